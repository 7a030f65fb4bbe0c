//! A tiny kernel scheduler behind a C ABI, compiled to wasm32-unknown-unknown.
//!
//! It is written the way kernel FFI shims are: errno returns (-22, -16, -1),
//! null-pointer guards that return early, a thread-state machine whose `match`
//! becomes a `br_table`, bounded loops over a fixed array of threads, and
//! repeated address arithmetic and large constants -- the code shapes loom-post's
//! cost-gated CSE pass is built for.

#![no_std]

use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

pub const EINVAL: i32 = -22;
pub const EBUSY: i32 = -16;
pub const EPERM: i32 = -1;

const NTHREADS: usize = 16;
/// Written into every live thread control block; checked before every use.
const TCB_MAGIC: u32 = 0x1234_5678;
/// Mixing constant for the scheduler's state checksum.
const GOLDEN: u32 = 0x9E37_79B9;

/// Thread states: the scheduler's state machine.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Dormant = 0,
    Ready = 1,
    Running = 2,
    Blocked = 3,
    Suspended = 4,
    Dead = 5,
}

impl State {
    fn from_u32(v: u32) -> Option<State> {
        match v {
            0 => Some(State::Dormant),
            1 => Some(State::Ready),
            2 => Some(State::Running),
            3 => Some(State::Blocked),
            4 => Some(State::Suspended),
            5 => Some(State::Dead),
            _ => None,
        }
    }
}

/// Events that drive the state machine.
const EV_START: u32 = 0;
const EV_PREEMPT: u32 = 1;
const EV_DISPATCH: u32 = 2;
const EV_BLOCK: u32 = 3;
const EV_WAKE: u32 = 4;
const EV_SUSPEND: u32 = 5;
const EV_RESUME: u32 = 6;
const EV_EXIT: u32 = 7;

/// One thread control block: 16 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
struct Tcb {
    state: u32,
    prio: i32,
    ticks: u32,
    magic: u32,
}

#[repr(C)]
struct Sched {
    threads: [Tcb; NTHREADS],
    current: i32,
    switches: u32,
    sem: u32,
}

static mut SCHED: Sched = Sched {
    threads: [Tcb { state: 0, prio: 0, ticks: 0, magic: 0 }; NTHREADS],
    current: -1,
    switches: 0,
    sem: 0,
};

/// A scratch word the host may pass back to the pointer-taking functions.
static mut SCRATCH: [u32; 4] = [0; 4];

fn base() -> *mut u8 {
    unsafe { core::ptr::addr_of_mut!(SCHED) as *mut u8 }
}

#[inline(always)]
unsafe fn field(i: usize, off: usize) -> *mut u32 {
    // Deliberately spelled out as address arithmetic: base + i*16 + off.
    (base() as usize + i * 16 + off) as *mut u32
}

#[inline(always)]
unsafe fn load(i: usize, off: usize) -> u32 {
    core::ptr::read_volatile(field(i, off))
}

#[inline(always)]
unsafe fn store(i: usize, off: usize, v: u32) {
    core::ptr::write_volatile(field(i, off), v)
}

/// Reset the scheduler: every thread dormant with a priority derived from `seed`.
#[no_mangle]
pub extern "C" fn ks_init(seed: u32) {
    unsafe {
        let mut x = seed ^ TCB_MAGIC;
        let mut i = 0;
        while i < NTHREADS {
            x = x.wrapping_mul(GOLDEN).rotate_left(7) ^ TCB_MAGIC;
            store(i, 0, State::Dormant as u32);
            store(i, 4, (x >> 27) as u32);
            store(i, 8, 0);
            store(i, 12, TCB_MAGIC);
            i += 1;
        }
        SCHED.current = -1;
        SCHED.switches = 0;
        SCHED.sem = seed & 7;
    }
}

/// Feed `event` to thread `tid`'s state machine. Returns the new state or an errno.
#[no_mangle]
pub extern "C" fn ks_event(tid: u32, event: u32) -> i32 {
    let i = tid as usize;
    if i >= NTHREADS {
        return EINVAL;
    }
    unsafe {
        if load(i, 12) != TCB_MAGIC {
            return EPERM;
        }
        let state = match State::from_u32(load(i, 0)) {
            Some(s) => s,
            None => return EINVAL,
        };
        let next = match (state, event) {
            (State::Dormant, EV_START) => State::Ready,
            (State::Ready, EV_DISPATCH) => State::Running,
            (State::Running, EV_PREEMPT) => State::Ready,
            (State::Running, EV_BLOCK) => State::Blocked,
            (State::Blocked, EV_WAKE) => State::Ready,
            (State::Ready, EV_SUSPEND) | (State::Blocked, EV_SUSPEND) => State::Suspended,
            (State::Suspended, EV_RESUME) => State::Ready,
            (State::Dead, _) => return EPERM,
            (_, EV_EXIT) => State::Dead,
            (State::Running, EV_DISPATCH) => return EBUSY,
            _ => return EINVAL,
        };
        store(i, 0, next as u32);
        if next == State::Running {
            SCHED.current = tid as i32;
            SCHED.switches = SCHED.switches.wrapping_add(1);
        }
        next as i32
    }
}

/// Index of the highest-priority ready thread, or -1 when none is ready.
#[no_mangle]
pub extern "C" fn ks_pick_next() -> i32 {
    let mut best: i32 = EPERM;
    let mut best_prio = i32::MIN;
    let mut i = 0;
    unsafe {
        while i < NTHREADS {
            if load(i, 12) == TCB_MAGIC
                && load(i, 0) == State::Ready as u32
                && (load(i, 4) as i32) > best_prio
            {
                best_prio = load(i, 4) as i32;
                best = i as i32;
            }
            i += 1;
        }
    }
    best
}

/// Charge `n` ticks to thread `tid`; demote it when it has used its slice.
#[no_mangle]
pub extern "C" fn ks_tick(tid: u32, n: u32) -> i32 {
    let i = tid as usize;
    if i >= NTHREADS {
        return EINVAL;
    }
    unsafe {
        if load(i, 12) != TCB_MAGIC {
            return EPERM;
        }
        if load(i, 0) != State::Running as u32 {
            return EBUSY;
        }
        let t = load(i, 8).wrapping_add(n);
        store(i, 8, t);
        if t > (load(i, 4) as u32 & 15) * 4 + 8 {
            store(i, 8, 0);
            store(i, 0, State::Ready as u32);
            if load(i, 4) as i32 > 0 {
                store(i, 4, load(i, 4).wrapping_sub(1));
            }
            return 1;
        }
        0
    }
}

/// Take one unit from the counting semaphore at `p`: the gale_sem_count_take shape.
#[no_mangle]
pub unsafe extern "C" fn ks_sem_take(p: *mut u32) -> i32 {
    if p.is_null() {
        return EINVAL;
    }
    let cnt = core::ptr::read_volatile(p);
    if cnt == 0 {
        return EBUSY;
    }
    core::ptr::write_volatile(p, cnt - 1);
    0
}

/// Give one unit back to the semaphore at `p`, saturating at `limit`.
#[no_mangle]
pub unsafe extern "C" fn ks_sem_give(p: *mut u32, limit: u32) -> i32 {
    if p.is_null() {
        return EINVAL;
    }
    let cnt = core::ptr::read_volatile(p);
    if cnt >= limit {
        return EBUSY;
    }
    core::ptr::write_volatile(p, cnt + 1);
    0
}

/// The scheduler's own semaphore (a pointer the host can pass to ks_sem_*).
#[no_mangle]
pub extern "C" fn ks_sem_ptr() -> *mut u32 {
    unsafe { core::ptr::addr_of_mut!(SCHED.sem) }
}

/// A scratch word for the host.
#[no_mangle]
pub extern "C" fn ks_scratch_ptr() -> *mut u32 {
    unsafe { core::ptr::addr_of_mut!(SCRATCH) as *mut u32 }
}

/// Read field `f` (0 state, 1 prio, 2 ticks, 3 magic) of thread `tid`.
#[no_mangle]
pub extern "C" fn ks_get(tid: u32, f: u32) -> i32 {
    let i = tid as usize;
    if i >= NTHREADS || f > 3 {
        return EINVAL;
    }
    unsafe { load(i, f as usize * 4) as i32 }
}

/// Set thread `tid`'s priority; rejected while it runs.
#[no_mangle]
pub extern "C" fn ks_set_prio(tid: u32, prio: i32) -> i32 {
    let i = tid as usize;
    if i >= NTHREADS {
        return EINVAL;
    }
    if !(0..=31).contains(&prio) {
        return EINVAL;
    }
    unsafe {
        if load(i, 12) != TCB_MAGIC {
            return EPERM;
        }
        if load(i, 0) == State::Running as u32 {
            return EBUSY;
        }
        store(i, 4, prio as u32);
    }
    0
}

/// A checksum over the whole scheduler state.
#[no_mangle]
pub extern "C" fn ks_checksum() -> u32 {
    let mut h = TCB_MAGIC;
    let mut i = 0;
    unsafe {
        while i < NTHREADS {
            h = (h ^ load(i, 0)).wrapping_mul(GOLDEN);
            h = (h ^ load(i, 4)).wrapping_mul(GOLDEN);
            h = (h ^ load(i, 8)).wrapping_mul(GOLDEN);
            h = (h ^ load(i, 12)).wrapping_mul(GOLDEN);
            i += 1;
        }
        h ^= SCHED.current as u32;
        h = h.wrapping_mul(GOLDEN) ^ SCHED.switches ^ SCHED.sem;
    }
    h
}

/// Number of threads in each state, packed 5 bits per state (state 0 lowest).
#[no_mangle]
pub extern "C" fn ks_census() -> u32 {
    let mut packed = 0u32;
    let mut i = 0;
    unsafe {
        while i < NTHREADS {
            let s = load(i, 0);
            if s <= State::Dead as u32 && load(i, 12) == TCB_MAGIC {
                packed = packed.wrapping_add(1 << (s * 5));
            }
            i += 1;
        }
    }
    packed
}
