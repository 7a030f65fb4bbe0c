//! libm 0.2: pure-Rust math functions (no buffers; scalar in, scalar out).

#[no_mangle]
pub extern "C" fn m_sin(x: f64) -> f64 {
    libm::sin(x)
}

#[no_mangle]
pub extern "C" fn m_cos(x: f64) -> f64 {
    libm::cos(x)
}

#[no_mangle]
pub extern "C" fn m_tan(x: f64) -> f64 {
    libm::tan(x)
}

#[no_mangle]
pub extern "C" fn m_exp(x: f64) -> f64 {
    libm::exp(x)
}

#[no_mangle]
pub extern "C" fn m_log(x: f64) -> f64 {
    libm::log(x)
}

#[no_mangle]
pub extern "C" fn m_pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[no_mangle]
pub extern "C" fn m_atan2(y: f64, x: f64) -> f64 {
    libm::atan2(y, x)
}

#[no_mangle]
pub extern "C" fn m_cbrt(x: f64) -> f64 {
    libm::cbrt(x)
}

#[no_mangle]
pub extern "C" fn m_erf(x: f64) -> f64 {
    libm::erf(x)
}

#[no_mangle]
pub extern "C" fn m_tgamma(x: f64) -> f64 {
    libm::tgamma(x)
}

#[no_mangle]
pub extern "C" fn m_sinf(x: f32) -> f32 {
    libm::sinf(x)
}

#[no_mangle]
pub extern "C" fn m_expf(x: f32) -> f32 {
    libm::expf(x)
}

#[no_mangle]
pub extern "C" fn m_hypotf(x: f32, y: f32) -> f32 {
    libm::hypotf(x, y)
}

/// Sum of sin(x)*exp(-x)+log1p(x) over n steps of h, a small numeric kernel.
#[no_mangle]
pub extern "C" fn integrate(n: u32, h: f64) -> f64 {
    let mut acc = 0.0;
    for i in 0..n {
        let x = i as f64 * h;
        acc += libm::sin(x) * libm::exp(-x) + libm::log1p(x);
    }
    acc * h
}
