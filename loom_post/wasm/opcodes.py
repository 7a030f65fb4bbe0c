"""The one opcode table.

Every operator loom-post understands is listed exactly once below, with its
encoding, its immediate operands, its stack signature and its effect class.
Decoding, encoding, stack typing and the CSE pass's notion of purity are all
derived from these rows; no other module lists opcodes. An operator missing here
is "not understood": the function holding it is kept byte for byte.

Row format: (prefix, code, name, immediate kind, signature, effect)
  prefix     None for one-byte opcodes, else 0xFC, 0xFD or 0xFE (u32 sub-opcode)
  signature  "params:results" over i=i32 I=i64 f=f32 F=f64 v=v128, or None when
             the stack effect depends on immediates or context (calls, locals,
             blocks, select, ...): stack_types.py handles those by name.
  effect     what the operator may observe or change (see EFFECTS).
"""

import functools

from loom_post.wasm.leb128 import encode_u

# --- immediate kinds -------------------------------------------------------
NONE = 0
U32 = 1          # one u32 index (label, func, local, global, table, type, tag, ...)
I32 = 2          # i32.const
I64 = 3          # i64.const
F32 = 4          # 4 raw bytes
F64 = 5          # 8 raw bytes
MEMARG = 6       # align (bit 6: memory index follows), [memidx], offset u64
BLOCKTYPE = 7
BR_TABLE = 8     # vec(label) default
U32X2 = 9        # two u32 (call_indirect: type, table; memory.init: data, mem; ...)
SELECT_T = 10    # vec(valtype)
HEAPTYPE = 11    # ref.null
V128 = 12        # 16 raw bytes
LANES16 = 13     # i8x16.shuffle: 16 lane bytes
LANE = 14        # one lane byte
MEMARG_LANE = 15
ZERO_BYTE = 16   # atomic.fence's reserved 0x00
TRY_TABLE = 17   # blocktype vec(catch clause)

# --- effect classes ----------------------------------------------------------
PURE = "pure"            # a value computed from operands only (may trap)
LOAD = "load"            # reads linear memory
STORE = "store"          # writes linear memory
MEMORY = "memory"        # changes memory size or contents in bulk
ATOMIC = "atomic"        # atomics: read and/or write shared memory, never reused
CALL = "call"            # may change memory, globals, tables; never the caller's locals
LOCAL_GET = "local.get"
LOCAL_SET = "local.set"  # local.set and local.tee
GLOBAL_GET = "global.get"
GLOBAL_SET = "global.set"
CONTROL = "control"      # structure and branches
OTHER = "other"          # no effect on locals, globals or memory, but not reusable
EFFECTS = (PURE, LOAD, STORE, MEMORY, ATOMIC, CALL, LOCAL_GET, LOCAL_SET,
           GLOBAL_GET, GLOBAL_SET, CONTROL, OTHER)


def _rows():
    rows = [
        (None, 0x00, "unreachable", NONE, None, CONTROL),
        (None, 0x01, "nop", NONE, ":", OTHER),
        (None, 0x02, "block", BLOCKTYPE, None, CONTROL),
        (None, 0x03, "loop", BLOCKTYPE, None, CONTROL),
        (None, 0x04, "if", BLOCKTYPE, None, CONTROL),
        (None, 0x05, "else", NONE, None, CONTROL),
        (None, 0x06, "try", BLOCKTYPE, None, CONTROL),
        (None, 0x07, "catch", U32, None, CONTROL),
        (None, 0x08, "throw", U32, None, CONTROL),
        (None, 0x09, "rethrow", U32, None, CONTROL),
        (None, 0x0A, "throw_ref", NONE, None, CONTROL),
        (None, 0x0B, "end", NONE, None, CONTROL),
        (None, 0x0C, "br", U32, None, CONTROL),
        (None, 0x0D, "br_if", U32, None, CONTROL),
        (None, 0x0E, "br_table", BR_TABLE, None, CONTROL),
        (None, 0x0F, "return", NONE, None, CONTROL),
        (None, 0x10, "call", U32, None, CALL),
        (None, 0x11, "call_indirect", U32X2, None, CALL),
        (None, 0x12, "return_call", U32, None, CALL),
        (None, 0x13, "return_call_indirect", U32X2, None, CALL),
        (None, 0x14, "call_ref", U32, None, CALL),
        (None, 0x15, "return_call_ref", U32, None, CALL),
        (None, 0x18, "delegate", U32, None, CONTROL),
        (None, 0x19, "catch_all", NONE, None, CONTROL),
        (None, 0x1A, "drop", NONE, None, OTHER),
        (None, 0x1B, "select", NONE, None, PURE),
        (None, 0x1C, "select_t", SELECT_T, None, PURE),
        (None, 0x1F, "try_table", TRY_TABLE, None, CONTROL),
        (None, 0x20, "local.get", U32, None, LOCAL_GET),
        (None, 0x21, "local.set", U32, None, LOCAL_SET),
        (None, 0x22, "local.tee", U32, None, LOCAL_SET),
        (None, 0x23, "global.get", U32, None, GLOBAL_GET),
        (None, 0x24, "global.set", U32, None, GLOBAL_SET),
        (None, 0x25, "table.get", U32, None, OTHER),
        (None, 0x26, "table.set", U32, None, OTHER),
        (None, 0x3F, "memory.size", U32, ":i", OTHER),
        (None, 0x40, "memory.grow", U32, "i:i", MEMORY),
        (None, 0x41, "i32.const", I32, ":i", PURE),
        (None, 0x42, "i64.const", I64, ":I", PURE),
        (None, 0x43, "f32.const", F32, ":f", PURE),
        (None, 0x44, "f64.const", F64, ":F", PURE),
        (None, 0xD0, "ref.null", HEAPTYPE, None, OTHER),
        (None, 0xD1, "ref.is_null", NONE, None, OTHER),
        (None, 0xD2, "ref.func", U32, None, OTHER),
        (None, 0xD4, "ref.as_non_null", NONE, None, OTHER),
        (None, 0xD5, "br_on_null", U32, None, CONTROL),
        (None, 0xD6, "br_on_non_null", U32, None, CONTROL),
    ]
    loads = [("i32.load", "i"), ("i64.load", "I"), ("f32.load", "f"), ("f64.load", "F"),
             ("i32.load8_s", "i"), ("i32.load8_u", "i"), ("i32.load16_s", "i"),
             ("i32.load16_u", "i"), ("i64.load8_s", "I"), ("i64.load8_u", "I"),
             ("i64.load16_s", "I"), ("i64.load16_u", "I"), ("i64.load32_s", "I"),
             ("i64.load32_u", "I")]
    for k, (name, t) in enumerate(loads):
        rows.append((None, 0x28 + k, name, MEMARG, "i:" + t, LOAD))
    stores = [("i32.store", "i"), ("i64.store", "I"), ("f32.store", "f"), ("f64.store", "F"),
              ("i32.store8", "i"), ("i32.store16", "i"), ("i64.store8", "I"),
              ("i64.store16", "I"), ("i64.store32", "I")]
    for k, (name, t) in enumerate(stores):
        rows.append((None, 0x36 + k, name, MEMARG, "i" + t + ":", STORE))

    def series(prefix, start, names, sig, effect=PURE, imm=NONE):
        for k, name in enumerate(names):
            if name:
                rows.append((prefix, start + k, name, imm, sig, effect))

    cmp_i = "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u".split()
    cmp_f = "eq ne lt gt le ge".split()
    bin_i = "add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr".split()
    un_f = "abs neg ceil floor trunc nearest sqrt".split()
    bin_f = "add sub mul div min max copysign".split()
    rows.append((None, 0x45, "i32.eqz", NONE, "i:i", PURE))
    series(None, 0x46, ["i32." + n for n in cmp_i], "ii:i")
    rows.append((None, 0x50, "i64.eqz", NONE, "I:i", PURE))
    series(None, 0x51, ["i64." + n for n in cmp_i], "II:i")
    series(None, 0x5B, ["f32." + n for n in cmp_f], "ff:i")
    series(None, 0x61, ["f64." + n for n in cmp_f], "FF:i")
    series(None, 0x67, ["i32.clz", "i32.ctz", "i32.popcnt"], "i:i")
    series(None, 0x6A, ["i32." + n for n in bin_i], "ii:i")
    series(None, 0x79, ["i64.clz", "i64.ctz", "i64.popcnt"], "I:I")
    series(None, 0x7C, ["i64." + n for n in bin_i], "II:I")
    series(None, 0x8B, ["f32." + n for n in un_f], "f:f")
    series(None, 0x92, ["f32." + n for n in bin_f], "ff:f")
    series(None, 0x99, ["f64." + n for n in un_f], "F:F")
    series(None, 0xA0, ["f64." + n for n in bin_f], "FF:F")
    for code, name, sig in [
        (0xA7, "i32.wrap_i64", "I:i"),
        (0xA8, "i32.trunc_f32_s", "f:i"), (0xA9, "i32.trunc_f32_u", "f:i"),
        (0xAA, "i32.trunc_f64_s", "F:i"), (0xAB, "i32.trunc_f64_u", "F:i"),
        (0xAC, "i64.extend_i32_s", "i:I"), (0xAD, "i64.extend_i32_u", "i:I"),
        (0xAE, "i64.trunc_f32_s", "f:I"), (0xAF, "i64.trunc_f32_u", "f:I"),
        (0xB0, "i64.trunc_f64_s", "F:I"), (0xB1, "i64.trunc_f64_u", "F:I"),
        (0xB2, "f32.convert_i32_s", "i:f"), (0xB3, "f32.convert_i32_u", "i:f"),
        (0xB4, "f32.convert_i64_s", "I:f"), (0xB5, "f32.convert_i64_u", "I:f"),
        (0xB6, "f32.demote_f64", "F:f"),
        (0xB7, "f64.convert_i32_s", "i:F"), (0xB8, "f64.convert_i32_u", "i:F"),
        (0xB9, "f64.convert_i64_s", "I:F"), (0xBA, "f64.convert_i64_u", "I:F"),
        (0xBB, "f64.promote_f32", "f:F"),
        (0xBC, "i32.reinterpret_f32", "f:i"), (0xBD, "i64.reinterpret_f64", "F:I"),
        (0xBE, "f32.reinterpret_i32", "i:f"), (0xBF, "f64.reinterpret_i64", "I:F"),
        (0xC0, "i32.extend8_s", "i:i"), (0xC1, "i32.extend16_s", "i:i"),
        (0xC2, "i64.extend8_s", "I:I"), (0xC3, "i64.extend16_s", "I:I"),
        (0xC4, "i64.extend32_s", "I:I"),
    ]:
        rows.append((None, code, name, NONE, sig, PURE))

    # 0xFC: saturating truncation, bulk memory, tables.
    FC = 0xFC
    for k, (name, sig) in enumerate([
            ("i32.trunc_sat_f32_s", "f:i"), ("i32.trunc_sat_f32_u", "f:i"),
            ("i32.trunc_sat_f64_s", "F:i"), ("i32.trunc_sat_f64_u", "F:i"),
            ("i64.trunc_sat_f32_s", "f:I"), ("i64.trunc_sat_f32_u", "f:I"),
            ("i64.trunc_sat_f64_s", "F:I"), ("i64.trunc_sat_f64_u", "F:I")]):
        rows.append((FC, k, name, NONE, sig, PURE))
    rows += [
        (FC, 8, "memory.init", U32X2, "iii:", MEMORY),
        (FC, 9, "data.drop", U32, ":", MEMORY),
        (FC, 10, "memory.copy", U32X2, "iii:", MEMORY),
        (FC, 11, "memory.fill", U32, "iii:", MEMORY),
        (FC, 12, "table.init", U32X2, "iii:", OTHER),
        (FC, 13, "elem.drop", U32, ":", OTHER),
        (FC, 14, "table.copy", U32X2, "iii:", OTHER),
        (FC, 15, "table.grow", U32, None, OTHER),
        (FC, 16, "table.size", U32, ":i", OTHER),
        (FC, 17, "table.fill", U32, None, OTHER),
    ]

    # 0xFD: SIMD (and relaxed SIMD).
    FD = 0xFD
    for k, name in enumerate(["v128.load", "v128.load8x8_s", "v128.load8x8_u",
                              "v128.load16x4_s", "v128.load16x4_u", "v128.load32x2_s",
                              "v128.load32x2_u", "v128.load8_splat", "v128.load16_splat",
                              "v128.load32_splat", "v128.load64_splat"]):
        rows.append((FD, k, name, MEMARG, "i:v", LOAD))
    rows += [
        (FD, 11, "v128.store", MEMARG, "iv:", STORE),
        (FD, 12, "v128.const", V128, ":v", PURE),
        (FD, 13, "i8x16.shuffle", LANES16, "vv:v", PURE),
        (FD, 14, "i8x16.swizzle", NONE, "vv:v", PURE),
    ]
    series(FD, 15, ["i8x16.splat", "i16x8.splat", "i32x4.splat"], "i:v")
    rows += [(FD, 18, "i64x2.splat", NONE, "I:v", PURE),
             (FD, 19, "f32x4.splat", NONE, "f:v", PURE),
             (FD, 20, "f64x2.splat", NONE, "F:v", PURE)]
    for code, name, sig in [
            (21, "i8x16.extract_lane_s", "v:i"), (22, "i8x16.extract_lane_u", "v:i"),
            (23, "i8x16.replace_lane", "vi:v"), (24, "i16x8.extract_lane_s", "v:i"),
            (25, "i16x8.extract_lane_u", "v:i"), (26, "i16x8.replace_lane", "vi:v"),
            (27, "i32x4.extract_lane", "v:i"), (28, "i32x4.replace_lane", "vi:v"),
            (29, "i64x2.extract_lane", "v:I"), (30, "i64x2.replace_lane", "vI:v"),
            (31, "f32x4.extract_lane", "v:f"), (32, "f32x4.replace_lane", "vf:v"),
            (33, "f64x2.extract_lane", "v:F"), (34, "f64x2.replace_lane", "vF:v")]:
        rows.append((FD, code, name, LANE, sig, PURE))
    series(FD, 35, ["i8x16." + n for n in cmp_i], "vv:v")
    series(FD, 45, ["i16x8." + n for n in cmp_i], "vv:v")
    series(FD, 55, ["i32x4." + n for n in cmp_i], "vv:v")
    series(FD, 65, ["f32x4." + n for n in cmp_f], "vv:v")
    series(FD, 71, ["f64x2." + n for n in cmp_f], "vv:v")
    rows.append((FD, 77, "v128.not", NONE, "v:v", PURE))
    series(FD, 78, ["v128.and", "v128.andnot", "v128.or", "v128.xor"], "vv:v")
    rows += [(FD, 82, "v128.bitselect", NONE, "vvv:v", PURE),
             (FD, 83, "v128.any_true", NONE, "v:i", PURE)]
    series(FD, 84, ["v128.load8_lane", "v128.load16_lane", "v128.load32_lane",
                    "v128.load64_lane"], "iv:v", LOAD, MEMARG_LANE)
    series(FD, 88, ["v128.store8_lane", "v128.store16_lane", "v128.store32_lane",
                    "v128.store64_lane"], "iv:", STORE, MEMARG_LANE)
    series(FD, 92, ["v128.load32_zero", "v128.load64_zero"], "i:v", LOAD, MEMARG)
    # The remaining SIMD operators; "" marks an unassigned code.
    v_v, vv_v, v_i, vi_v = "v:v", "vv:v", "v:i", "vi:v"
    simd = {
        94: ("f32x4.demote_f64x2_zero", v_v), 95: ("f64x2.promote_low_f32x4", v_v),
        96: ("i8x16.abs", v_v), 97: ("i8x16.neg", v_v), 98: ("i8x16.popcnt", v_v),
        99: ("i8x16.all_true", v_i), 100: ("i8x16.bitmask", v_i),
        101: ("i8x16.narrow_i16x8_s", vv_v), 102: ("i8x16.narrow_i16x8_u", vv_v),
        103: ("f32x4.ceil", v_v), 104: ("f32x4.floor", v_v), 105: ("f32x4.trunc", v_v),
        106: ("f32x4.nearest", v_v), 107: ("i8x16.shl", vi_v), 108: ("i8x16.shr_s", vi_v),
        109: ("i8x16.shr_u", vi_v), 110: ("i8x16.add", vv_v), 111: ("i8x16.add_sat_s", vv_v),
        112: ("i8x16.add_sat_u", vv_v), 113: ("i8x16.sub", vv_v),
        114: ("i8x16.sub_sat_s", vv_v), 115: ("i8x16.sub_sat_u", vv_v),
        116: ("f64x2.ceil", v_v), 117: ("f64x2.floor", v_v), 118: ("i8x16.min_s", vv_v),
        119: ("i8x16.min_u", vv_v), 120: ("i8x16.max_s", vv_v), 121: ("i8x16.max_u", vv_v),
        122: ("f64x2.trunc", v_v), 123: ("i8x16.avgr_u", vv_v),
        124: ("i16x8.extadd_pairwise_i8x16_s", v_v), 125: ("i16x8.extadd_pairwise_i8x16_u", v_v),
        126: ("i32x4.extadd_pairwise_i16x8_s", v_v), 127: ("i32x4.extadd_pairwise_i16x8_u", v_v),
        128: ("i16x8.abs", v_v), 129: ("i16x8.neg", v_v), 130: ("i16x8.q15mulr_sat_s", vv_v),
        131: ("i16x8.all_true", v_i), 132: ("i16x8.bitmask", v_i),
        133: ("i16x8.narrow_i32x4_s", vv_v), 134: ("i16x8.narrow_i32x4_u", vv_v),
        135: ("i16x8.extend_low_i8x16_s", v_v), 136: ("i16x8.extend_high_i8x16_s", v_v),
        137: ("i16x8.extend_low_i8x16_u", v_v), 138: ("i16x8.extend_high_i8x16_u", v_v),
        139: ("i16x8.shl", vi_v), 140: ("i16x8.shr_s", vi_v), 141: ("i16x8.shr_u", vi_v),
        142: ("i16x8.add", vv_v), 143: ("i16x8.add_sat_s", vv_v), 144: ("i16x8.add_sat_u", vv_v),
        145: ("i16x8.sub", vv_v), 146: ("i16x8.sub_sat_s", vv_v), 147: ("i16x8.sub_sat_u", vv_v),
        148: ("f64x2.nearest", v_v), 149: ("i16x8.mul", vv_v), 150: ("i16x8.min_s", vv_v),
        151: ("i16x8.min_u", vv_v), 152: ("i16x8.max_s", vv_v), 153: ("i16x8.max_u", vv_v),
        155: ("i16x8.avgr_u", vv_v),
        156: ("i16x8.extmul_low_i8x16_s", vv_v), 157: ("i16x8.extmul_high_i8x16_s", vv_v),
        158: ("i16x8.extmul_low_i8x16_u", vv_v), 159: ("i16x8.extmul_high_i8x16_u", vv_v),
        160: ("i32x4.abs", v_v), 161: ("i32x4.neg", v_v), 163: ("i32x4.all_true", v_i),
        164: ("i32x4.bitmask", v_i),
        167: ("i32x4.extend_low_i16x8_s", v_v), 168: ("i32x4.extend_high_i16x8_s", v_v),
        169: ("i32x4.extend_low_i16x8_u", v_v), 170: ("i32x4.extend_high_i16x8_u", v_v),
        171: ("i32x4.shl", vi_v), 172: ("i32x4.shr_s", vi_v), 173: ("i32x4.shr_u", vi_v),
        174: ("i32x4.add", vv_v), 177: ("i32x4.sub", vv_v), 181: ("i32x4.mul", vv_v),
        182: ("i32x4.min_s", vv_v), 183: ("i32x4.min_u", vv_v), 184: ("i32x4.max_s", vv_v),
        185: ("i32x4.max_u", vv_v), 186: ("i32x4.dot_i16x8_s", vv_v),
        188: ("i32x4.extmul_low_i16x8_s", vv_v), 189: ("i32x4.extmul_high_i16x8_s", vv_v),
        190: ("i32x4.extmul_low_i16x8_u", vv_v), 191: ("i32x4.extmul_high_i16x8_u", vv_v),
        192: ("i64x2.abs", v_v), 193: ("i64x2.neg", v_v), 195: ("i64x2.all_true", v_i),
        196: ("i64x2.bitmask", v_i),
        199: ("i64x2.extend_low_i32x4_s", v_v), 200: ("i64x2.extend_high_i32x4_s", v_v),
        201: ("i64x2.extend_low_i32x4_u", v_v), 202: ("i64x2.extend_high_i32x4_u", v_v),
        203: ("i64x2.shl", vi_v), 204: ("i64x2.shr_s", vi_v), 205: ("i64x2.shr_u", vi_v),
        206: ("i64x2.add", vv_v), 209: ("i64x2.sub", vv_v), 213: ("i64x2.mul", vv_v),
        214: ("i64x2.eq", vv_v), 215: ("i64x2.ne", vv_v), 216: ("i64x2.lt_s", vv_v),
        217: ("i64x2.gt_s", vv_v), 218: ("i64x2.le_s", vv_v), 219: ("i64x2.ge_s", vv_v),
        220: ("i64x2.extmul_low_i32x4_s", vv_v), 221: ("i64x2.extmul_high_i32x4_s", vv_v),
        222: ("i64x2.extmul_low_i32x4_u", vv_v), 223: ("i64x2.extmul_high_i32x4_u", vv_v),
        224: ("f32x4.abs", v_v), 225: ("f32x4.neg", v_v), 227: ("f32x4.sqrt", v_v),
        228: ("f32x4.add", vv_v), 229: ("f32x4.sub", vv_v), 230: ("f32x4.mul", vv_v),
        231: ("f32x4.div", vv_v), 232: ("f32x4.min", vv_v), 233: ("f32x4.max", vv_v),
        234: ("f32x4.pmin", vv_v), 235: ("f32x4.pmax", vv_v),
        236: ("f64x2.abs", v_v), 237: ("f64x2.neg", v_v), 239: ("f64x2.sqrt", v_v),
        240: ("f64x2.add", vv_v), 241: ("f64x2.sub", vv_v), 242: ("f64x2.mul", vv_v),
        243: ("f64x2.div", vv_v), 244: ("f64x2.min", vv_v), 245: ("f64x2.max", vv_v),
        246: ("f64x2.pmin", vv_v), 247: ("f64x2.pmax", vv_v),
        248: ("i32x4.trunc_sat_f32x4_s", v_v), 249: ("i32x4.trunc_sat_f32x4_u", v_v),
        250: ("f32x4.convert_i32x4_s", v_v), 251: ("f32x4.convert_i32x4_u", v_v),
        252: ("i32x4.trunc_sat_f64x2_s_zero", v_v), 253: ("i32x4.trunc_sat_f64x2_u_zero", v_v),
        254: ("f64x2.convert_low_i32x4_s", v_v), 255: ("f64x2.convert_low_i32x4_u", v_v),
        # relaxed SIMD: implementation-defined but value-only, so still pure.
        0x100: ("i8x16.relaxed_swizzle", vv_v),
        0x101: ("i32x4.relaxed_trunc_f32x4_s", v_v), 0x102: ("i32x4.relaxed_trunc_f32x4_u", v_v),
        0x103: ("i32x4.relaxed_trunc_f64x2_s_zero", v_v),
        0x104: ("i32x4.relaxed_trunc_f64x2_u_zero", v_v),
        0x105: ("f32x4.relaxed_madd", "vvv:v"), 0x106: ("f32x4.relaxed_nmadd", "vvv:v"),
        0x107: ("f64x2.relaxed_madd", "vvv:v"), 0x108: ("f64x2.relaxed_nmadd", "vvv:v"),
        0x109: ("i8x16.relaxed_laneselect", "vvv:v"), 0x10A: ("i16x8.relaxed_laneselect", "vvv:v"),
        0x10B: ("i32x4.relaxed_laneselect", "vvv:v"), 0x10C: ("i64x2.relaxed_laneselect", "vvv:v"),
        0x10D: ("f32x4.relaxed_min", vv_v), 0x10E: ("f32x4.relaxed_max", vv_v),
        0x10F: ("f64x2.relaxed_min", vv_v), 0x110: ("f64x2.relaxed_max", vv_v),
        0x111: ("i16x8.relaxed_q15mulr_s", vv_v),
        0x112: ("i16x8.relaxed_dot_i8x16_i7x16_s", vv_v),
        0x113: ("i32x4.relaxed_dot_i8x16_i7x16_add_s", "vvv:v"),
    }
    for code, (name, sig) in simd.items():
        rows.append((FD, code, name, NONE, sig, PURE))

    # 0xFE: threads. Every atomic is ATOMIC: never reused, and it kills loads.
    FE = 0xFE
    rows += [
        (FE, 0x00, "memory.atomic.notify", MEMARG, "ii:i", ATOMIC),
        (FE, 0x01, "memory.atomic.wait32", MEMARG, "iiI:i", ATOMIC),
        (FE, 0x02, "memory.atomic.wait64", MEMARG, "iII:i", ATOMIC),
        (FE, 0x03, "atomic.fence", ZERO_BYTE, ":", ATOMIC),
    ]
    widths = [("i32", "", "i"), ("i64", "", "I"), ("i32", "8", "i"), ("i32", "16", "i"),
              ("i64", "8", "I"), ("i64", "16", "I"), ("i64", "32", "I")]
    for k, (ty, w, t) in enumerate(widths):
        suffix = "_u" if w else ""
        rows.append((FE, 0x10 + k, f"{ty}.atomic.load{w}{suffix}", MEMARG, "i:" + t, ATOMIC))
        rows.append((FE, 0x17 + k, f"{ty}.atomic.store{w}", MEMARG, "i" + t + ":", ATOMIC))
    for j, op in enumerate(["add", "sub", "and", "or", "xor", "xchg", "cmpxchg"]):
        for k, (ty, w, t) in enumerate(widths):
            rmw = f"rmw{w}" if w else "rmw"
            suffix = "_u" if w else ""
            sig = ("i" + t + t + ":" + t) if op == "cmpxchg" else ("i" + t + ":" + t)
            rows.append((FE, 0x1E + 7 * j + k, f"{ty}.atomic.{rmw}.{op}{suffix}",
                         MEMARG, sig, ATOMIC))
    return rows


class OpInfo:
    """One row of the table, with what decoding and encoding need precomputed."""

    __slots__ = ("prefix", "code", "name", "imm", "sig", "effect", "opcode_bytes",
                 "pops", "pushes", "stack_effect", "fixed_size")

    def __init__(self, prefix, code, name, imm, sig, effect):
        self.prefix, self.code, self.name = prefix, code, name
        self.imm, self.sig, self.effect = imm, sig, effect
        self.opcode_bytes = bytes((code,)) if prefix is None else bytes((prefix,)) + encode_u(code)
        # encoded size when it does not depend on the immediates, else 0
        self.fixed_size = len(self.opcode_bytes) if imm == NONE else 0
        self.pops, self.pushes, self.stack_effect = _signature(sig)

    def __repr__(self):
        return f"<op {self.name}>"


@functools.lru_cache(maxsize=None)
def _signature(sig):
    """(pops, pushes, stack_effect) of a signature string, or three Nones. Cached:
    the 539 rows share 57 signatures, and this table is built by every run,
    a warm one included (its import was ~20% of a cache hit's own work)."""
    if sig is None:
        return None, None, None
    params, results = sig.split(":")
    pops = tuple(map(VALTYPE_OF_LETTER.__getitem__, params))
    pushes = tuple(map(VALTYPE_OF_LETTER.__getitem__, results))
    return pops, pushes, (len(pops), pushes)


# Value type bytes of the binary format.
I32_T, I64_T, F32_T, F64_T, V128_T = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B
FUNCREF_T, EXTERNREF_T = 0x70, 0x6F
VALTYPE_OF_LETTER = {"i": I32_T, "I": I64_T, "f": F32_T, "F": F64_T, "v": V128_T}
PREFIXES = (0xFC, 0xFD, 0xFE)

ALL = tuple(OpInfo(*row) for row in _rows())
SINGLE = [None] * 256           # one-byte opcode -> OpInfo
PREFIXED = {p: {} for p in PREFIXES}  # prefix -> {sub-opcode: OpInfo}
BY_NAME = {}
for _op in ALL:
    if _op.name in BY_NAME:
        raise AssertionError(f"opcode table lists {_op.name} twice")
    BY_NAME[_op.name] = _op
    if _op.prefix is None:
        if SINGLE[_op.code] is not None:
            raise AssertionError(f"opcode 0x{_op.code:02x} listed twice")
        SINGLE[_op.code] = _op
    else:
        if _op.code in PREFIXED[_op.prefix]:
            raise AssertionError(f"opcode 0x{_op.prefix:02x} {_op.code} listed twice")
        PREFIXED[_op.prefix][_op.code] = _op
del _op
