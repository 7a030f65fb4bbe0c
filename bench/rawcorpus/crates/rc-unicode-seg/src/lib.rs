//! unicode-segmentation 1.9: grapheme, word and sentence segmentation of UTF-8 input.

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

use unicode_segmentation::UnicodeSegmentation;

fn text(len: usize) -> Option<&'static str> {
    core::str::from_utf8(input(len)).ok()
}

#[no_mangle]
pub extern "C" fn graphemes(len: usize) -> i32 {
    text(len).map(|t| t.graphemes(true).count() as i32).unwrap_or(-1)
}

#[no_mangle]
pub extern "C" fn words(len: usize) -> i32 {
    text(len).map(|t| t.unicode_words().count() as i32).unwrap_or(-1)
}

#[no_mangle]
pub extern "C" fn sentences(len: usize) -> i32 {
    text(len).map(|t| t.unicode_sentences().count() as i32).unwrap_or(-1)
}

/// Reverse the text grapheme by grapheme into the output buffer; returns its length.
#[no_mangle]
pub extern "C" fn reverse_graphemes(len: usize) -> i32 {
    match text(len) {
        Some(t) => {
            let mut n = 0;
            for g in t.graphemes(true).rev() {
                output()[n..n + g.len()].copy_from_slice(g.as_bytes());
                n += g.len();
            }
            n as i32
        }
        None => -1,
    }
}

/// Byte offset of the `k`-th word boundary, or -1.
#[no_mangle]
pub extern "C" fn word_boundary(len: usize, k: usize) -> i32 {
    text(len)
        .and_then(|t| t.split_word_bound_indices().nth(k))
        .map(|(i, _)| i as i32)
        .unwrap_or(-1)
}
