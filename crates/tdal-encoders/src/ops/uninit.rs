//! Output buffers that are written once and never zero-filled first.
//!
//! A layer's output and input gradient are fresh vectors of up to tens of MB per step.
//! `vec![0.0; n]` fills them with zeros on the calling thread (the allocator hands back
//! reused memory, so it cannot skip the fill) while the other rayon threads wait, only for
//! every element to be overwritten by the block that computes it. Here the vector starts
//! uninitialised and each block writes its own chunk on its own thread.
//!
//! Soundness rests on one rule, checked at run time: a chunk counts as written only when
//! the filling code hands back an initialised `&mut [T]` over exactly that chunk's memory,
//! and the only ways to make one from the uninitialised chunk are the functions here
//! ([`write_all`], [`init_rows`]) and [`super::gemm::matmul_uninit`], each of which
//! writes every element before it returns the slice.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// `dst` as an initialised slice.
///
/// # Safety
/// Every element of `dst` must have been written.
#[allow(unsafe_code)]
pub(crate) unsafe fn assume_init<T>(dst: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: `MaybeUninit<T>` has the size, alignment and ABI of `T`, and the caller
    // guarantees that every element is initialised.
    unsafe { &mut *(std::ptr::from_mut(dst) as *mut [T]) }
}

/// Writes `values` into `dst` in order and returns `dst`, now initialised.
///
/// # Panics
/// When `values` yields fewer items than `dst` holds (further items are not taken).
#[inline]
pub(crate) fn write_all<T>(
    dst: &mut [MaybeUninit<T>],
    values: impl IntoIterator<Item = T>,
) -> &mut [T] {
    let mut written = 0;
    dst.iter_mut().zip(values).for_each(|(d, v)| {
        d.write(v);
        written += 1;
    });
    assert_eq!(written, dst.len(), "write_all: fewer values than elements");
    // SAFETY: the loop wrote each of the `dst.len()` elements (checked just above).
    #[allow(unsafe_code)]
    unsafe {
        assume_init(dst)
    }
}

/// Fills `dst` chunk by chunk (`chunk` elements each, the last one shorter): `fill(i,
/// part)` gets chunk `i` uninitialised and returns it initialised. Returns `dst`
/// initialised.
///
/// # Panics
/// When `fill` returns another slice than the one it was given, `chunk` is 0 or `T` is
/// zero-sized.
#[inline]
pub(crate) fn init_rows<T>(
    dst: &mut [MaybeUninit<T>],
    chunk: usize,
    mut fill: impl for<'a> FnMut(usize, &'a mut [MaybeUninit<T>]) -> &'a mut [T],
) -> &mut [T] {
    // Slices of a zero-sized type all start at one dangling address, so the check below
    // could not tell them apart.
    assert!(size_of::<T>() > 0, "init_rows: zero-sized elements");
    for (i, part) in dst.chunks_mut(chunk).enumerate() {
        let (start, len) = (part.as_ptr().cast::<T>(), part.len());
        let done = fill(i, part);
        assert!(
            std::ptr::eq(done.as_ptr(), start) && done.len() == len,
            "init_rows: chunk {i} came back as another slice"
        );
    }
    // SAFETY: the chunks cover `dst`, and each came back from `fill` as an initialised
    // `&mut [T]` over exactly its memory (checked above), which can only be made by a
    // function of this module or `matmul_uninit`, all of which write every element first.
    #[allow(unsafe_code)]
    unsafe {
        assume_init(dst)
    }
}

/// A vector of `len` elements made in parallel chunk by chunk (`chunk` elements each, the
/// last one shorter) and never zero-filled: `fill(state, i, part)` gets chunk `i`
/// uninitialised and returns it initialised, with a value `R`; the values are returned in
/// chunk order. `init` makes a thread's `state` (scratch buffers), as rayon's `map_init`.
///
/// # Panics
/// When `fill` returns another slice than the one it was given, `chunk` is 0 or `T` is
/// zero-sized.
pub(crate) fn par_init<T, S, R>(
    len: usize,
    chunk: usize,
    init: impl Fn() -> S + Sync + Send,
    fill: impl for<'a> Fn(&mut S, usize, &'a mut [MaybeUninit<T>]) -> (&'a mut [T], R) + Sync + Send,
) -> (Vec<T>, Vec<R>)
where
    T: Send,
    R: Send,
{
    assert!(chunk > 0, "par_init: chunk of 0 elements");
    // Slices of a zero-sized type all start at one dangling address, so the check below
    // could not tell them apart.
    assert!(size_of::<T>() > 0, "par_init: zero-sized elements");
    let mut out: Vec<T> = Vec::with_capacity(len);
    let results: Vec<R> = out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk)
        .enumerate()
        .map_init(init, |state, (i, part)| {
            let (start, n) = (part.as_ptr().cast::<T>(), part.len());
            let (done, value) = fill(state, i, part);
            assert!(
                std::ptr::eq(done.as_ptr(), start) && done.len() == n,
                "par_init: chunk {i} came back as another slice"
            );
            value
        })
        .collect();
    // SAFETY: the chunks cover `0..len` of the capacity, and each came back from `fill`
    // as an initialised `&mut [T]` over exactly its memory (checked above), which can only
    // be made by a function of this module or `matmul_uninit`, all of which write every
    // element first. Had a chunk panicked, the length would have stayed 0.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(len);
    }
    (out, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_init_writes_every_chunk_in_order() {
        for (len, chunk) in [(0, 3), (1, 3), (10, 3), (12, 4), (7, 10)] {
            let (v, starts) = par_init(
                len,
                chunk,
                || (),
                |_, i, part| {
                    let n = part.len();
                    (
                        write_all(part, (0..n).map(|j| (i * chunk + j) as f64)),
                        i * chunk,
                    )
                },
            );
            let expected: Vec<f64> = (0..len).map(|j| j as f64).collect();
            assert_eq!(v, expected, "len {len}, chunk {chunk}");
            let chunk_starts: Vec<usize> = (0..len.div_ceil(chunk)).map(|i| i * chunk).collect();
            assert_eq!(starts, chunk_starts);
        }
    }

    #[test]
    fn init_rows_fills_row_by_row() {
        let mut buffer = vec![MaybeUninit::<u32>::uninit(); 7];
        let rows = init_rows(&mut buffer, 3, |i, row| {
            let n = row.len();
            write_all(row, (0..n).map(|j| (10 * i + j) as u32))
        });
        assert_eq!(rows, [0, 1, 2, 10, 11, 12, 20]);
    }

    #[test]
    #[should_panic(expected = "fewer values")]
    fn write_all_refuses_too_few_values() {
        let mut buffer = vec![MaybeUninit::<f32>::uninit(); 4];
        let _ = write_all(&mut buffer, [1.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "zero-sized")]
    fn zero_sized_elements_are_refused() {
        let _ = par_init(2, 1, || (), |_, _, part| (write_all(part, [(); 1]), ()));
    }

    #[test]
    #[should_panic(expected = "another slice")]
    fn par_init_refuses_a_slice_it_did_not_hand_out() {
        let _ = par_init(
            4,
            2,
            || (),
            |_, _, part| {
                let _ = write_all(part, [0.0f32; 2]);
                (Box::leak(Box::new([1.0f32, 2.0])).as_mut_slice(), ())
            },
        );
    }
}
