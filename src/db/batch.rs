//! Statements over many rows: chunked and padded so each comes in a handful of shapes,
//! or, where statements are not kept prepared, their ids named as ranges.

use std::ops::RangeInclusive;

use sea_orm::sea_query::{Condition, Expr, ExprTrait, IntoColumnRef};

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

/// `ids` as a condition on `column`: each run of two or more consecutive ids as one
/// `BETWEEN`, the others in one `IN (…)`. For a statement sent as text (the MySQL
/// journal's, [`super::mysql_writer`]), where its shape does not matter: the messages
/// of a batch get consecutive ids, and their outcomes mostly come back together.
///
/// On MariaDB a list costs an index descent per id, and the optimizer's work and the
/// parser's grow with its length; a range is one descent. Measured with the bench's
/// journal statements alone (three interleaved pairs, one build and a switch, 26
/// outcomes a batch): the server's CPU per push 54.4–56.1 µs with `IN` lists, 50.4–52.9
/// with ranges, and 15,209–15,561 pushes a second against 16,109–16,843. In the flat
/// push case (three interleaved pairs of builds) 0.279–0.299 of the floor before,
/// 0.296–0.326 after, the server's CPU per push 63–66 µs against 57–61.
pub fn ranges_of<C: IntoColumnRef + Clone>(column: C, ids: &[i64]) -> Condition {
    let (ranges, singles) = runs_of(ids);
    let mut any = Condition::any();
    for range in ranges {
        any = any.add(Expr::col(column.clone()).between(*range.start(), *range.end()));
    }
    if !singles.is_empty() {
        any = any.add(Expr::col(column).is_in(singles));
    }
    any
}

/// `ids` sorted, without repeats, and split into runs of two or more consecutive ids
/// and the ids on their own.
fn runs_of(ids: &[i64]) -> (Vec<RangeInclusive<i64>>, Vec<i64>) {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let (mut ranges, mut singles) = (Vec::new(), Vec::new());
    let mut rest = &sorted[..];
    while let [first, ..] = rest {
        let len = 1 + rest
            .windows(2)
            .take_while(|w| w[0].checked_add(1) == Some(w[1]))
            .count();
        match len {
            1 => singles.push(*first),
            _ => ranges.push(*first..=rest[len - 1]),
        }
        rest = &rest[len..];
    }
    (ranges, singles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sea_orm::sea_query::{Alias, MysqlQueryBuilder, Query};

    #[test]
    fn consecutive_ids_become_ranges_and_the_rest_a_list() {
        let sql = |ids: &[i64]| {
            Query::select()
                .column(Alias::new("id"))
                .from(Alias::new("deliveries"))
                .cond_where(ranges_of(Alias::new("id"), ids))
                .to_string(MysqlQueryBuilder)
        };
        assert_eq!(
            sql(&[8, 1, 3, 2, 5, 7, 3]),
            "SELECT `id` FROM `deliveries` WHERE (`id` BETWEEN 1 AND 3) \
             OR (`id` BETWEEN 7 AND 8) OR `id` IN (5)"
        );
        assert_eq!(
            sql(&[4, 9]),
            "SELECT `id` FROM `deliveries` WHERE `id` IN (4, 9)"
        );
        assert_eq!(
            sql(&[i64::MAX, i64::MAX - 1]),
            format!(
                "SELECT `id` FROM `deliveries` WHERE `id` BETWEEN {} AND {}",
                i64::MAX - 1,
                i64::MAX
            )
        );
    }

    proptest! {
        /// The runs and the ids alone name exactly the ids given, each once.
        #[test]
        fn runs_name_every_id_and_no_other(ids in prop::collection::vec(-50i64..50, 0..60)) {
            let (ranges, singles) = runs_of(&ids);
            let mut named: Vec<i64> = ranges.iter().flat_map(|r| r.clone()).collect();
            prop_assert!(ranges.iter().all(|r| r.start() < r.end()));
            named.extend(&singles);
            named.sort_unstable();
            let mut want = ids.clone();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(&named, &want);
            // Each run is as long as it can be: as many pieces as the sorted ids have
            // gaps, and one.
            let gaps = want.windows(2).filter(|w| w[0] + 1 != w[1]).count();
            let pieces = if want.is_empty() { 0 } else { gaps + 1 };
            prop_assert_eq!(ranges.len() + singles.len(), pieces);
        }
    }

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
