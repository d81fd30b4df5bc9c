//! Property tests: every plan covers every batch exactly once, in chunks that each belong to one
//! task in static mode; the streams (batch indices) are unique; merging stored results in any
//! grouping gives the same result.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::Toy;
use hope_grid::{Mode, Plan, Workload};
use proptest::prelude::*;

proptest! {
    #[test]
    fn plans_cover_every_batch_exactly_once(
        batches in 1u64..5_000,
        tasks in 1u32..80,
        per_task in 1u32..12,
        dynamic in any::<bool>(),
    ) {
        let mode = if dynamic { Mode::Dynamic } else { Mode::Static };
        let plan = Plan::new(batches, tasks, per_task, mode).unwrap();
        plan.validate().unwrap();
        let mut seen = vec![0u32; batches as usize];
        for c in plan.chunks() {
            prop_assert!(c.start < c.end);
            for b in c.clone() {
                seen[b as usize] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1));
        prop_assert!(plan.tasks() as u64 <= batches);
        for i in 0..plan.chunks().len() {
            let owners = (0..plan.tasks()).filter(|&t| plan.may_claim(t, i)).count();
            match mode {
                Mode::Static => prop_assert_eq!(owners, 1),
                Mode::Dynamic => prop_assert_eq!(owners, plan.tasks() as usize),
            }
        }
        // Static: every task has work.
        if mode == Mode::Static {
            for t in 0..plan.tasks() {
                prop_assert!((0..plan.chunks().len()).any(|i| plan.may_claim(t, i)));
            }
        }
        // Chunk sizes differ by at most one batch.
        let sizes: Vec<u64> = plan.chunks().iter().map(|c| c.end - c.start).collect();
        prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn merging_in_any_grouping_gives_the_same_result(
        cuts in proptest::collection::btree_set(1u64..199, 0..20),
        order_seed in any::<u64>(),
    ) {
        let toy = Toy::new(200, 9);
        let mut edges: Vec<u64> = std::iter::once(0).chain(cuts).chain(std::iter::once(200)).collect();
        edges.dedup();
        let mut parts: Vec<_> = edges.windows(2).map(|w| toy.run(w[0]..w[1]).unwrap()).collect();
        // A pseudo-random order.
        let mut s = order_seed | 1;
        for i in (1..parts.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            parts.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let merged = parts.into_iter().reduce(|a, b| toy.merge(a, b).unwrap()).unwrap();
        prop_assert_eq!(merged, toy.expected());
    }
}
