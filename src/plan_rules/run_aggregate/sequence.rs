//! The order in which groups were first seen, followed by comparison instead of hashing.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::kernels::cmp::not_distinct;
use datafusion::arrow::compute::take;
use datafusion::common::internal_err;
use datafusion::error::Result;

use super::GIVE_UP_AFTER;
use crate::plan_rules::text_equality::same_text;

/// A stream stops following the sequence of its groups beyond this many: the sequence holds a second
/// copy of their keys (counted in the stream's memory, like its groups). A billion generated rows have
/// 490,416 groups of gemeente and kind of violence, which every half-year's file repeats; at 2^18 the
/// streams gave up and hashed every row (q05's partial aggregate at 1B, `benches/RESULTS.md` round 13).
pub(super) const MAX_SEQUENCE: usize = 1 << 20;

/// The keys of every group in the order they were first seen, and where the input is in that order.
///
/// Each half-year file holds the same regions and kinds of violence in the same order, so a query grouped
/// by region and kind meets its keys in the same sequence in every file: group `g + i` follows
/// group `g`. Where a batch's keys equal the next stretch of that sequence (a comparison per row and key,
/// no hashing), their groups are known. A batch that does not (one in each file where the files meet)
/// takes DataFusion's lookup, and its last row's group tells where the sequence goes on.
pub(super) struct Sequence {
    /// The keys of groups `0..n` in stretches: the number of a stretch's first group, and its keys (one
    /// array per key column), as the batches that first saw them brought them.
    stretches: Vec<(usize, Vec<ArrayRef>)>,
    /// The memory the stretches hold, kept as they change: the stream asks after every batch.
    memory: usize,
    /// The group the next row is expected to have.
    cursor: usize,
    batches_without_match: usize,
    given_up: bool,
    /// Given up because the groups outgrew `limit`.
    pub(super) over_limit: bool,
    /// The groups it follows at most: [`MAX_SEQUENCE`].
    limit: usize,
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence {
            stretches: Vec::new(),
            memory: 0,
            cursor: 0,
            batches_without_match: 0,
            given_up: false,
            over_limit: false,
            limit: MAX_SEQUENCE,
        }
    }
}

impl Sequence {
    fn len(&self) -> usize {
        self.stretches.last().map_or(0, |(first, keys)| first + keys[0].len())
    }

    /// Whether rows `from..from + rows` of `keys` equal the keys of groups `start..start + rows`.
    fn equal(&self, keys: &[ArrayRef], from: usize, start: usize, rows: usize) -> Result<bool> {
        let mut stretch = self.stretches.partition_point(|(first, _)| *first <= start) - 1;
        let mut row = 0;
        while row < rows {
            let (first, seen) = &self.stretches[stretch];
            let offset = start + row - first;
            let length = (seen[0].len() - offset).min(rows - row);
            for (batch_keys, seen_keys) in keys.iter().zip(seen) {
                let (batch_keys, seen_keys) = (batch_keys.slice(from + row, length), seen_keys.slice(offset, length));
                let same = match (batch_keys.as_string_view_opt(), seen_keys.as_string_view_opt()) {
                    (Some(batch_text), Some(seen_text)) => same_text(batch_text, seen_text),
                    _ => not_distinct(&batch_keys, &seen_keys)?.true_count() == length,
                };
                if !same {
                    return Ok(false);
                }
            }
            row += length;
            stretch += 1;
        }
        Ok(true)
    }

    /// Sets `groups` when `keys` go on where the sequence is, start it again, or finish it and start again.
    pub(super) fn follow(&mut self, keys: &[ArrayRef], rows: usize, groups: &mut Vec<usize>) -> Result<bool> {
        if self.given_up || self.stretches.is_empty() {
            return Ok(false);
        }
        let known = self.len();
        let candidates = if self.cursor == 0 { [Some(0), None] } else { [Some(self.cursor), Some(0)] };
        for start in candidates.into_iter().flatten() {
            if start + rows <= known && self.equal(keys, 0, start, rows)? {
                groups.clear();
                groups.extend(start..start + rows);
                self.cursor = start + rows;
                self.batches_without_match = 0;
                return Ok(true);
            }
        }
        // the end of one file and the start of the next: the sequence's end, then its start again
        let tail = known.saturating_sub(self.cursor);
        if self.cursor > 0
            && tail > 0
            && tail < rows
            && rows - tail <= known
            && self.equal(keys, 0, self.cursor, tail)?
            && self.equal(keys, tail, 0, rows - tail)?
        {
            groups.clear();
            groups.extend(self.cursor..known);
            groups.extend(0..rows - tail);
            self.cursor = rows - tail;
            self.batches_without_match = 0;
            return Ok(true);
        }
        // at the end of the sequence, new groups are expected (the first file), not a miss
        if self.cursor < known {
            self.batches_without_match += 1;
            if self.batches_without_match >= GIVE_UP_AFTER {
                self.give_up();
            }
        }
        Ok(false)
    }

    /// Adds the groups `known..total`, first seen in `keys`, and moves the cursor past the last row's
    /// group. DataFusion numbers new groups mostly, not always, in row order (a hash collision is settled
    /// later), so each new group's keys are taken from the first row that has it.
    pub(super) fn learn(&mut self, keys: &[ArrayRef], groups: &[usize], known: usize, total: usize) -> Result<()> {
        if self.given_up {
            return Ok(());
        }
        if total > known {
            let mut first_rows = vec![u32::MAX; total - known];
            for (row, &group) in groups.iter().enumerate().rev() {
                if group >= known {
                    first_rows[group - known] = row as u32;
                }
            }
            if first_rows.contains(&u32::MAX) {
                return internal_err!("a new group without a row");
            }
            let rows = UInt32Array::from(first_rows);
            let added = keys.iter().map(|k| take(k.as_ref(), &rows, None)).collect::<Result<Vec<_>, _>>()?;
            self.memory += added.iter().map(|k| k.get_array_memory_size()).sum::<usize>();
            self.stretches.push((known, added));
            if total > self.limit {
                self.give_up();
                self.over_limit = true;
                return Ok(());
            }
        }
        self.cursor = groups.last().map_or(self.cursor, |&g| g + 1);
        Ok(())
    }

    fn give_up(&mut self) {
        self.given_up = true;
        self.stretches.clear();
        self.memory = 0;
    }

    /// Starts again after the groups were handed on (their numbers are reused).
    pub(super) fn forget(&mut self) {
        self.stretches.clear();
        self.memory = 0;
        self.cursor = 0;
    }

    pub(super) fn size(&self) -> usize {
        self.memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use std::sync::Arc;

    #[test]
    fn the_sequence_takes_each_new_groups_keys_from_its_first_row() {
        let text = |v: &[&str]| vec![Arc::new(StringArray::from(v.to_vec())) as ArrayRef];
        let mut sequence = Sequence::default();
        // DataFusion numbered b's group after c's (as after a hash collision)
        sequence.learn(&text(&["a", "b", "c", "a"]), &[0, 2, 1, 0], 0, 3).unwrap();
        let mut groups = Vec::new();
        assert!(sequence.follow(&text(&["a", "c"]), 2, &mut groups).unwrap());
        assert_eq!(groups, [0, 1]);
        assert!(sequence.follow(&text(&["b"]), 1, &mut groups).unwrap());
        assert_eq!(groups, [2]);
        assert!(!sequence.follow(&text(&["c", "b"]), 2, &mut groups).unwrap());
        // a miss goes to DataFusion, which found b and a new d: the sequence goes on after b
        sequence.learn(&text(&["c", "b"]), &[1, 2], 3, 3).unwrap();
        assert!(!sequence.follow(&text(&["d", "a"]), 2, &mut groups).unwrap());
        sequence.learn(&text(&["d", "a"]), &[3, 0], 3, 4).unwrap();
        // across the two stretches learnt
        assert!(sequence.follow(&text(&["a", "c", "b", "d"]), 4, &mut groups).unwrap());
        assert_eq!(groups, [0, 1, 2, 3]);
        assert!(sequence.follow(&text(&["a", "c"]), 2, &mut groups).unwrap());
        // the end of the sequence, then its start again
        assert!(sequence.follow(&text(&["b", "d", "a"]), 3, &mut groups).unwrap());
        assert_eq!(groups, [2, 3, 0]);
        assert!(!sequence.follow(&text(&["b", "d", "a"]), 3, &mut groups).unwrap());
    }

    /// Past its limit the sequence lets go of its keys and follows nothing more.
    #[test]
    fn more_groups_than_the_limit_end_the_sequence() {
        let text = |v: &[&str]| vec![Arc::new(StringArray::from(v.to_vec())) as ArrayRef];
        let mut sequence = Sequence { limit: 3, ..Sequence::default() };
        sequence.learn(&text(&["a", "b", "c"]), &[0, 1, 2], 0, 3).unwrap();
        let mut groups = Vec::new();
        assert!(sequence.follow(&text(&["a", "b"]), 2, &mut groups).unwrap());
        assert!(!sequence.over_limit);
        sequence.learn(&text(&["d"]), &[3], 3, 4).unwrap();
        assert!(sequence.over_limit);
        assert_eq!(sequence.size(), 0);
        assert!(!sequence.follow(&text(&["a", "b"]), 2, &mut groups).unwrap());
    }
}
