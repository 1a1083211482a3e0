//! Tests of one step of PIBT (`pibt.rs`): pushes, no swaps, no cycles of moves, priority.

use super::*;

/// Agents on nodes: (AGV = node × 10, its node, its moves best first as (node, occupant)).
/// Its own node, last, is staying.
fn agents(spec: &[(u32, &[u32])]) -> (Vec<Agent>, BTreeMap<u32, usize>) {
    let at: BTreeMap<u32, usize> = spec
        .iter()
        .enumerate()
        .map(|(i, (node, _))| (*node, i))
        .collect();
    let agents = spec
        .iter()
        .map(|(node, moves)| Agent {
            agv: node * 10,
            node: *node,
            task: None,
            moves: moves
                .iter()
                .chain(std::iter::once(node))
                .map(|m| (*m, 0, at.get(m).copied()))
                .collect(),
        })
        .collect();
    (agents, at)
}

fn step(spec: &[(u32, &[u32])]) -> Vec<u32> {
    let (agents, at) = agents(spec);
    let order: Vec<usize> = (0..agents.len()).collect();
    Round::run(&agents, &at, &order)
        .into_iter()
        .map(|n| n.expect("every agent decided"))
        .collect()
}

/// A chain: 1 wants 2, whose AGV is pushed on to 3, whose AGV is pushed on to the free 4.
#[test]
fn an_agv_in_the_way_is_pushed_on_and_so_is_the_next() {
    assert_eq!(step(&[(1, &[2]), (2, &[3]), (3, &[4])]), vec![2, 3, 4]);
}

/// Pushed, an AGV never takes the node of the AGV pushing it (the two would swap, and a
/// swap cannot run through reservations): with nowhere else to go, both stay.
#[test]
fn two_agvs_never_swap() {
    assert_eq!(step(&[(1, &[2]), (2, &[1])]), vec![1, 2]);
}

/// A push that fails is backtracked: the pusher takes its next node instead.
#[test]
fn a_failed_push_is_backtracked() {
    // 2's AGV can only go back to 1; 1 goes to the free 5 instead.
    assert_eq!(step(&[(1, &[2, 5]), (2, &[1])]), vec![5, 2]);
}

/// Three AGVs each onto the node of the next, round a cycle: no move of it could start (each
/// waits for the next to leave), so it is never chosen.
#[test]
fn a_cycle_of_moves_is_never_chosen() {
    let next = step(&[(1, &[2]), (2, &[3]), (3, &[1])]);
    let moves: Vec<(u32, u32)> = [1, 2, 3]
        .into_iter()
        .zip(next)
        .filter(|(a, b)| a != b)
        .collect();
    assert!(moves.len() < 3, "a cycle of moves was chosen: {moves:?}");
    // whatever moves ends on a node nobody else takes
    let mut ends: Vec<u32> = moves.iter().map(|m| m.1).collect();
    ends.sort_unstable();
    ends.dedup();
    assert_eq!(ends.len(), moves.len());
    // and with a free node on the way, the chain runs from there instead
    assert_eq!(step(&[(1, &[2]), (2, &[3]), (3, &[1, 4])]), vec![2, 3, 4]);
}

/// The first in the order takes a node two AGVs want; the second takes its next one.
#[test]
fn the_first_in_order_gets_the_node() {
    assert_eq!(step(&[(1, &[3]), (2, &[3, 4])]), vec![3, 4]);
    let (agents, at) = agents(&[(1, &[3]), (2, &[3, 4])]);
    let next = Round::run(&agents, &at, &[1, 0]);
    assert_eq!(next, vec![Some(1), Some(3)]);
}

/// No two AGVs end the step on the same node and no moves form a cycle, whatever the moves
/// offered (random small instances).
#[test]
fn no_two_agvs_end_a_step_on_one_node() {
    let mut rng = crate::sim::Rng::new(7);
    for _ in 0..2_000 {
        let n = 2 + rng.below(7) as u32;
        let nodes: Vec<u32> = (1..=n + 3).collect();
        let mut spec: Vec<(u32, Vec<u32>)> = Vec::new();
        for a in 1..=n {
            let k = rng.below(4);
            let moves: Vec<u32> = (0..k)
                .map(|_| nodes[rng.below(nodes.len())])
                .filter(|m| *m != a)
                .collect();
            spec.push((a, moves));
        }
        let view: Vec<(u32, &[u32])> = spec.iter().map(|(a, m)| (*a, &m[..])).collect();
        let next = step(&view);
        let mut ends = next.clone();
        ends.sort_unstable();
        ends.dedup();
        assert_eq!(ends.len(), next.len(), "{spec:?} -> {next:?}");
        // every move is one offered
        for (i, (a, moves)) in spec.iter().enumerate() {
            assert!(
                next[i] == *a || moves.contains(&next[i]),
                "{spec:?} -> {next:?}"
            );
        }
        // and no cycle of moves: following AGVs onto the nodes of AGVs moving on ends
        for start in 0..spec.len() {
            let mut i = start;
            for _ in 0..=spec.len() {
                let to = next[i];
                if to == spec[i].0 {
                    break;
                }
                match spec.iter().position(|(a, _)| *a == to) {
                    Some(j) if next[j] != spec[j].0 => {
                        assert_ne!(j, start, "a cycle of moves: {spec:?} -> {next:?}");
                        i = j;
                    }
                    _ => break,
                }
            }
        }
    }
}
