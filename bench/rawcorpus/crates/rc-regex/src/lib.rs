//! regex 1.7: compile a pattern from the input buffer and search text with it.
//! Input layout: pattern bytes, then text bytes (`pat_len` + `text_len`).

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

fn split(pat_len: usize, text_len: usize) -> Option<(&'static str, &'static str)> {
    let all = input(pat_len + text_len);
    let (p, t) = all.split_at(pat_len.min(all.len()));
    Some((core::str::from_utf8(p).ok()?, core::str::from_utf8(t).ok()?))
}

/// Number of non-overlapping matches, or -1 when the pattern is invalid.
#[no_mangle]
pub extern "C" fn count_matches(pat_len: usize, text_len: usize) -> i32 {
    match split(pat_len, text_len) {
        Some((p, t)) => match regex::Regex::new(p) {
            Ok(re) => re.find_iter(t).count() as i32,
            Err(_) => -1,
        },
        None => -2,
    }
}

/// Start offset of the first match of capture group `group`, or -1.
#[no_mangle]
pub extern "C" fn first_capture(pat_len: usize, text_len: usize, group: usize) -> i32 {
    let (p, t) = match split(pat_len, text_len) {
        Some(x) => x,
        None => return -2,
    };
    let re = match regex::Regex::new(p) {
        Ok(re) => re,
        Err(_) => return -1,
    };
    re.captures(t)
        .and_then(|c| c.get(group))
        .map(|m| m.start() as i32)
        .unwrap_or(-1)
}

/// Replace every match with "<$0>" and write the result to the output buffer; returns its length.
#[no_mangle]
pub extern "C" fn replace_all(pat_len: usize, text_len: usize) -> i32 {
    let (p, t) = match split(pat_len, text_len) {
        Some(x) => x,
        None => return -2,
    };
    let re = match regex::Regex::new(p) {
        Ok(re) => re,
        Err(_) => return -1,
    };
    let out = re.replace_all(t, "<$0>");
    let n = out.len().min(CAP);
    output()[..n].copy_from_slice(&out.as_bytes()[..n]);
    n as i32
}

/// Whether any of a fixed set of patterns matches the text (bitmask).
#[no_mangle]
pub extern "C" fn set_matches(text_len: usize) -> u32 {
    let t = match core::str::from_utf8(input(text_len)) {
        Ok(t) => t,
        Err(_) => return 0,
    };
    let set = regex::RegexSet::new(&[
        r"\d{4}-\d{2}-\d{2}",
        r"[[:alpha:]]+@[[:alpha:]]+\.com",
        r"(?i)error|warning",
        r"\p{Greek}+",
        r"^\s*$",
    ])
    .unwrap();
    set.matches(t).iter().fold(0, |acc, i| acc | (1 << i))
}
