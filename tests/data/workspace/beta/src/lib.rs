//! Workspace member two: a table of counters behind address arithmetic.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

static mut SLOTS: [u32; 8] = [0; 8];

#[no_mangle]
pub extern "C" fn beta_bump(i: u32, by: u32) -> i32 {
    if i >= 8 {
        return -22;
    }
    unsafe {
        SLOTS[i as usize] = SLOTS[i as usize].wrapping_add(by);
        SLOTS[i as usize] as i32
    }
}

#[no_mangle]
pub extern "C" fn beta_sum() -> u32 {
    let mut s = 0u32;
    let mut i = 0;
    while i < 8 {
        s = s.wrapping_add(unsafe { SLOTS[i] });
        i += 1;
    }
    s
}
