//! serde_json 1.0: parse JSON from the input buffer, walk it, re-serialize it.

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

use serde_json::Value;

fn count(v: &Value) -> u32 {
    match v {
        Value::Array(a) => 1 + a.iter().map(count).sum::<u32>(),
        Value::Object(o) => 1 + o.values().map(count).sum::<u32>(),
        _ => 1,
    }
}

fn write_out(s: &[u8]) -> i32 {
    if s.len() > CAP {
        return -3;
    }
    output()[..s.len()].copy_from_slice(s);
    s.len() as i32
}

/// Number of JSON values in the document, or -1 on a parse error.
#[no_mangle]
pub extern "C" fn count_values(len: usize) -> i32 {
    match serde_json::from_slice::<Value>(input(len)) {
        Ok(v) => count(&v) as i32,
        Err(_) => -1,
    }
}

/// Parse and write the compact form; returns its length or -1.
#[no_mangle]
pub extern "C" fn minify(len: usize) -> i32 {
    match serde_json::from_slice::<Value>(input(len)) {
        Ok(v) => write_out(&serde_json::to_vec(&v).unwrap_or_default()),
        Err(_) => -1,
    }
}

/// Parse and write the pretty-printed form; returns its length or -1.
#[no_mangle]
pub extern "C" fn prettify(len: usize) -> i32 {
    match serde_json::from_slice::<Value>(input(len)) {
        Ok(v) => write_out(&serde_json::to_vec_pretty(&v).unwrap_or_default()),
        Err(_) => -1,
    }
}

/// Sum of every number in the document (as f64), NaN on a parse error.
#[no_mangle]
pub extern "C" fn sum_numbers(len: usize) -> f64 {
    fn sum(v: &Value) -> f64 {
        match v {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::Array(a) => a.iter().map(sum).sum(),
            Value::Object(o) => o.values().map(sum).sum(),
            _ => 0.0,
        }
    }
    match serde_json::from_slice::<Value>(input(len)) {
        Ok(v) => sum(&v),
        Err(_) => f64::NAN,
    }
}

/// Build a document from scratch (n records) and write it; returns its length.
#[no_mangle]
pub extern "C" fn generate(n: u32) -> i32 {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": i,
                "name": format!("item-{}", i),
                "score": (i as f64) * 1.5,
                "tags": ["a", "b"],
                "ok": i % 2 == 0,
            })
        })
        .collect();
    write_out(&serde_json::to_vec(&Value::Array(items)).unwrap_or_default())
}
