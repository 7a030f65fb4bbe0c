"""The WebAssembly binary format: LEB128, the one opcode table, the instruction
decoder/encoder, module reading/writing and stack typing. No policy lives here,
and nothing here imports from the rest of loom-post."""
