//! Statements over many rows: chunked and padded so each comes in a handful of shapes.

/// Rows per multi-row statement at most.
pub const MAX_CHUNK: usize = 256;

/// Splits `items` into runs whose lengths are powers of two, largest first, none over
/// [`MAX_CHUNK`]. A statement over many rows then comes in one of a handful of shapes,
/// each prepared once and reused, instead of one shape per batch size, each a large
/// prepared statement that would sit in every connection's statement cache.
pub fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = MAX_CHUNK.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

/// `items` for an `IN (…)` list, lengthened to a power of two by repeating the last
/// one (which changes nothing a set membership test decides). A statement whose list
/// length follows the batch size comes in as many shapes as there are sizes, each
/// prepared anew once it has fallen out of the connection's statement cache; padded,
/// it comes in at most ten shapes, which stay prepared.
pub fn padded<T: Clone>(items: &[T]) -> Vec<T> {
    let mut list = items.to_vec();
    if let Some(last) = items.last() {
        list.resize(items.len().next_power_of_two(), last.clone());
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_lists_are_powers_of_two_with_the_same_members() {
        assert_eq!(padded::<u8>(&[]), Vec::<u8>::new());
        assert_eq!(padded(&[7]), [7]);
        assert_eq!(padded(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4]), [1, 2, 3, 4]);
        let long: Vec<u32> = (0..300).collect();
        let p = padded(&long);
        assert_eq!(p.len(), 512);
        assert_eq!(&p[..300], &long[..]);
        assert!(p[300..].iter().all(|&x| x == 299));
    }

    #[test]
    fn chunks_are_powers_of_two_largest_first_and_cover_everything() {
        let sizes = |n: usize| {
            let items: Vec<usize> = (0..n).collect();
            let parts: Vec<&[usize]> = chunks(&items).collect();
            assert_eq!(parts.concat(), items, "{n} items in order, each once");
            parts.iter().map(|p| p.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(300), [256, 32, 8, 4]);
        assert_eq!(sizes(512), [256, 256]);
        assert_eq!(sizes(600), [256, 256, 64, 16, 8]);
    }
}
