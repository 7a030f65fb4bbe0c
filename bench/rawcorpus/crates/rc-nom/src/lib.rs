//! nom 7: parser combinators over the input buffer (arithmetic, key=value, hex colours).

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

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1, take_while_m_n};
use nom::character::complete::{char, digit1, multispace0, space0};
use nom::combinator::{map, map_res, opt, recognize};
use nom::multi::{fold_many0, separated_list0};
use nom::sequence::{delimited, pair, preceded, separated_pair, terminated, tuple};
use nom::IResult;

fn number(i: &[u8]) -> IResult<&[u8], i64> {
    map_res(
        delimited(multispace0, recognize(pair(opt(char('-')), digit1)), multispace0),
        |s: &[u8]| core::str::from_utf8(s).unwrap().parse::<i64>(),
    )(i)
}

fn factor(i: &[u8]) -> IResult<&[u8], i64> {
    alt((
        number,
        delimited(
            delimited(multispace0, char('('), multispace0),
            expr,
            delimited(multispace0, char(')'), multispace0),
        ),
    ))(i)
}

fn term(i: &[u8]) -> IResult<&[u8], i64> {
    let (i, init) = factor(i)?;
    fold_many0(
        pair(alt((char('*'), char('/'), char('%'))), factor),
        move || init,
        |acc, (op, v)| match op {
            '*' => acc.wrapping_mul(v),
            '/' => acc.checked_div(v).unwrap_or(0),
            _ => acc.checked_rem(v).unwrap_or(0),
        },
    )(i)
}

fn expr(i: &[u8]) -> IResult<&[u8], i64> {
    let (i, init) = term(i)?;
    fold_many0(
        pair(alt((char('+'), char('-'))), term),
        move || init,
        |acc, (op, v)| if op == '+' { acc.wrapping_add(v) } else { acc.wrapping_sub(v) },
    )(i)
}

/// Evaluate an integer arithmetic expression; i64::MIN on a parse error.
#[no_mangle]
pub extern "C" fn eval(len: usize) -> i64 {
    match expr(input(len)) {
        Ok((rest, v)) if rest.is_empty() => v,
        _ => i64::MIN,
    }
}

fn key(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')(i)
}

fn value(i: &[u8]) -> IResult<&[u8], &[u8]> {
    alt((
        delimited(tag("\""), take_while1(|c| c != b'"'), tag("\"")),
        take_while1(|c: u8| c != b'\n' && c != b';'),
    ))(i)
}

/// Parse `key = value` lines separated by newlines or ';'; returns the number of pairs
/// (and writes the total value length to output[0..4]), -1 on a parse error.
#[no_mangle]
pub extern "C" fn parse_kv(len: usize) -> i32 {
    let line = separated_pair(
        preceded(multispace0, key),
        tuple((space0, char('='), space0)),
        value,
    );
    let r = terminated(
        separated_list0(alt((tag("\n"), tag(";"))), line),
        multispace0,
    )(input(len));
    match r {
        Ok((_, pairs)) => {
            let total: u32 = pairs.iter().map(|(_, v)| v.len() as u32).sum();
            output()[..4].copy_from_slice(&total.to_le_bytes());
            pairs.len() as i32
        }
        Err(_) => -1,
    }
}

fn hex2(i: &[u8]) -> IResult<&[u8], u8> {
    map_res(take_while_m_n(2, 2, |c: u8| c.is_ascii_hexdigit()), |s: &[u8]| {
        u8::from_str_radix(core::str::from_utf8(s).unwrap(), 16)
    })(i)
}

/// Parse `#rrggbb`; returns 0x00rrggbb or -1.
#[no_mangle]
pub extern "C" fn hex_color(len: usize) -> i32 {
    let color = map(preceded(tag("#"), tuple((hex2, hex2, hex2))), |(r, g, b)| {
        ((r as i32) << 16) | ((g as i32) << 8) | b as i32
    });
    match terminated(color, multispace0)(input(len)) {
        Ok((rest, c)) if rest.is_empty() => c,
        _ => -1,
    }
}
