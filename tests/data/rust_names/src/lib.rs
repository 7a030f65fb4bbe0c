//! Generic code, closures, trait impls and std collections, so that a build
//! has many mangled names (legacy or v0) for loom-post's name tests.
use std::collections::BTreeMap;

pub struct Decoder<R> {
    r: R,
    n: u32,
}

impl<R: Iterator<Item = u8>> Decoder<R> {
    #[inline(never)]
    pub fn next_word(&mut self) -> Option<u32> {
        let a = self.r.next()? as u32;
        self.n += 1;
        Some(a * 31 + self.n)
    }
}

#[no_mangle]
pub extern "C" fn decode(len: u32) -> u32 {
    let v: Vec<u8> = (0..len as u8).collect();
    let mut d = Decoder { r: v.into_iter(), n: 0 };
    let mut m = BTreeMap::new();
    while let Some(w) = d.next_word() {
        m.insert(w, format!("{}", w));
    }
    m.values().map(|s| s.len() as u32).sum()
}
