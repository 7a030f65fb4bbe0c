//! Workspace member one: a hash mixing a large constant, an errno guard.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

const K: u32 = 0x1234_5678;

#[no_mangle]
pub extern "C" fn alpha_mix(x: u32) -> u32 {
    let a = x.wrapping_mul(K) ^ K;
    let b = a.rotate_left(13).wrapping_add(K);
    (b ^ (b >> 16)).wrapping_mul(K)
}

#[no_mangle]
pub extern "C" fn alpha_check(x: i32) -> i32 {
    if x < 0 {
        return -22;
    }
    if x > 1000 {
        return -16;
    }
    x * 3
}
