//! base64 0.13: encode and decode between the input and output buffers.

const CAP: usize = 1 << 16;
static mut INPUT: [u8; CAP] = [0; CAP];
static mut OUTPUT: [u8; CAP * 2] = [0; CAP * 2];

#[no_mangle]
pub extern "C" fn input_ptr() -> *mut u8 {
    unsafe { INPUT.as_mut_ptr() }
}

#[no_mangle]
pub extern "C" fn output_ptr() -> *const u8 {
    unsafe { OUTPUT.as_ptr() }
}

fn input(len: usize) -> &'static [u8] {
    unsafe { &INPUT[..len.min(CAP)] }
}

fn output() -> &'static mut [u8] {
    unsafe { &mut OUTPUT[..] }
}

fn config(kind: u32) -> base64::Config {
    match kind {
        1 => base64::URL_SAFE,
        2 => base64::URL_SAFE_NO_PAD,
        3 => base64::STANDARD_NO_PAD,
        4 => base64::BCRYPT,
        5 => base64::IMAP_MUTF7,
        _ => base64::STANDARD,
    }
}

/// Encode `len` input bytes; returns the encoded length.
#[no_mangle]
pub extern "C" fn encode(len: usize, kind: u32) -> usize {
    base64::encode_config_slice(input(len), config(kind), output())
}

/// Decode `len` input bytes; returns the decoded length or -1.
#[no_mangle]
pub extern "C" fn decode(len: usize, kind: u32) -> i32 {
    match base64::decode_config_slice(input(len), config(kind), output()) {
        Ok(n) => n as i32,
        Err(_) => -1,
    }
}

/// Encode through an owned String, decode it back, return 1 when it round-trips.
#[no_mangle]
pub extern "C" fn roundtrip(len: usize) -> u32 {
    let data = input(len);
    let text = base64::encode(data);
    match base64::decode(text.as_bytes()) {
        Ok(back) => (back == data) as u32,
        Err(_) => 0,
    }
}
