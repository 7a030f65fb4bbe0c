//! httparse 1.8: parse HTTP/1.x requests and responses from the input buffer.

const CAP: usize = 1 << 16;
static mut INPUT: [u8; CAP] = [0; CAP];
static mut OUTPUT: [u8; CAP] = [0; CAP];

/// Where the host writes the input bytes (CAP bytes).
#[no_mangle]
pub extern "C" fn input_ptr() -> *mut u8 {
    unsafe { INPUT.as_mut_ptr() }
}

/// Where results are written (CAP bytes).
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

/// Parse a request head. Returns the header count (method length and path length
/// go to output[0..8]); -1 when partial, -2 on a parse error.
#[no_mangle]
pub extern "C" fn parse_request(len: usize) -> i32 {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(input(len)) {
        Ok(httparse::Status::Complete(_)) => {
            let m = req.method.map(|m| m.len()).unwrap_or(0) as u32;
            let p = req.path.map(|p| p.len()).unwrap_or(0) as u32;
            output()[..4].copy_from_slice(&m.to_le_bytes());
            output()[4..8].copy_from_slice(&p.to_le_bytes());
            req.headers.len() as i32
        }
        Ok(httparse::Status::Partial) => -1,
        Err(_) => -2,
    }
}

/// Parse a response head. Returns the status code; -1 when partial, -2 on error.
#[no_mangle]
pub extern "C" fn parse_response(len: usize) -> i32 {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(input(len)) {
        Ok(httparse::Status::Complete(_)) => res.code.unwrap_or(0) as i32,
        Ok(httparse::Status::Partial) => -1,
        Err(_) => -2,
    }
}

/// Value length of the Content-Length header parsed as a number, or -1.
#[no_mangle]
pub extern "C" fn content_length(len: usize) -> i64 {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if req.parse(input(len)).is_err() {
        return -1;
    }
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| core::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(-1)
}

/// Decode a chunk-size line; returns the size, or -1.
#[no_mangle]
pub extern "C" fn chunk_size(len: usize) -> i64 {
    match httparse::parse_chunk_size(input(len)) {
        Ok(httparse::Status::Complete((_, n))) => n as i64,
        _ => -1,
    }
}
