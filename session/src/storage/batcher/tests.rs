use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::*;

/// A take or commit of the fake server: an id the test picks, its key, and whether it only
/// releases a lease (a commit whose caller left, or the release of a lease nobody claimed).
#[derive(Debug, Clone, PartialEq)]
struct Op {
    id: u32,
    key: &'static str,
    release: bool,
}

fn op(id: u32, key: &'static str) -> Op {
    Op {
        id,
        key,
        release: false,
    }
}

/// What one request carried: the ids of its takes, and of its commits with their release flag.
#[derive(Debug, PartialEq)]
struct Sent {
    takes: Vec<u32>,
    commits: Vec<(u32, bool)>,
}

/// A server that answers every operation with its id (a take is answered with a lease) once
/// the test lets its request through the gate, or fails every operation of it.
struct Fake<const ONE_PER_KEY: bool, const IN_FLIGHT: usize> {
    sent: Mutex<Vec<Sent>>,
    gate: Semaphore,
    failing: AtomicBool,
}

type Outcome = Result<u32, String>;

impl<const ONE_PER_KEY: bool, const IN_FLIGHT: usize> Requests for Fake<ONE_PER_KEY, IN_FLIGHT> {
    type Take = Op;
    type Taken = Outcome;
    type Commit = Op;
    type Committed = Outcome;

    const MAX_BATCH: usize = 4;
    const MAX_OF_ONE_KIND: usize = 3;
    const MAX_IN_FLIGHT: usize = IN_FLIGHT;
    const ONE_PER_KEY: bool = ONE_PER_KEY;

    fn take_key(take: &Op) -> &[u8] {
        take.key.as_bytes()
    }

    fn commit_key(commit: &Op) -> &[u8] {
        commit.key.as_bytes()
    }

    async fn send_batch(&self, takes: &[&Op], commits: &[&Op]) -> (Vec<Outcome>, Vec<Outcome>) {
        lock(&self.sent).push(Sent {
            takes: takes.iter().map(|take| take.id).collect(),
            commits: commits.iter().map(|c| (c.id, c.release)).collect(),
        });
        self.gate
            .acquire()
            .await
            .expect("the gate is never closed")
            .forget();
        let count = takes.len() + commits.len();
        let answer = |op: &&Op| {
            if self.failing.load(Ordering::Relaxed) {
                Err(format!("a batch of {count} failed"))
            } else {
                Ok(op.id)
            }
        };
        (
            takes.iter().map(answer).collect(),
            commits.iter().map(answer).collect(),
        )
    }

    fn release(take: Op, taken: Outcome) -> Option<Op> {
        taken.is_ok().then_some(Op {
            release: true,
            ..take
        })
    }

    fn release_only(commit: &mut Op) {
        commit.release = true;
    }
}

fn queue<const K: bool, const N: usize>() -> Batcher<Fake<K, N>> {
    let fake = Fake {
        sent: Mutex::default(),
        gate: Semaphore::new(0),
        failing: AtomicBool::new(false),
    };
    Batcher::new(fake, tokio::runtime::Handle::current())
}

impl<const K: bool, const N: usize> Batcher<Fake<K, N>> {
    fn requests(&self) -> &Fake<K, N> {
        &self.shared.requests
    }

    /// Lets `requests` more requests be answered.
    fn answer(&self, requests: usize) {
        self.requests().gate.add_permits(requests);
    }

    fn sent(&self) -> usize {
        lock(&self.requests().sent).len()
    }

    fn take_sent(&self) -> Vec<Sent> {
        std::mem::take(&mut *lock(&self.requests().sent))
    }

    fn queued(&self) -> usize {
        self.shared.state().queued()
    }

    fn idle(&self) -> bool {
        !self.shared.state().busy
    }

    /// A take sent alone, the queue busy until the returned guard is dropped.
    fn take_alone(&self, op: Op) -> Alone<'_, Fake<K, N>, Op> {
        match self.take(op, |op| op) {
            Turn::Alone(alone) => alone,
            Turn::Queued(_) => panic!("a take queued with nothing in flight"),
        }
    }

    fn queue_take(&self, op: Op) -> Waiting<Outcome> {
        match self.take(op, |op| op) {
            Turn::Queued(waiting) => waiting,
            Turn::Alone(_) => panic!("a take went alone while a request was in flight"),
        }
    }

    fn queue_commit(&self, op: Op) -> Waiting<Outcome> {
        match self.commit(op, |op| op) {
            Turn::Queued(waiting) => waiting,
            Turn::Alone(_) => panic!("a commit went alone while a request was in flight"),
        }
    }
}

/// Lets the other tasks run until `done`, a bounded number of times.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what} did not happen");
}

/// Runs `test`, failing it if it hangs.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(10), test)
        .await
        .expect("the test hung");
}

fn sent(takes: &[u32], commits: &[u32]) -> Sent {
    Sent {
        takes: takes.to_vec(),
        commits: commits.iter().map(|&id| (id, false)).collect(),
    }
}

async fn queued_while_a_batch_is_out_go_in_the_next<const K: bool, const N: usize>() {
    let queue = queue::<K, N>();
    let alone = queue.take_alone(op(1, "a"));
    let take = queue.queue_take(op(2, "b"));
    let commit = queue.queue_commit(op(3, "c"));
    drop(alone);
    until("the first batch going out", || queue.sent() == 1).await;
    let later = [queue.queue_take(op(4, "d")), queue.queue_take(op(5, "e"))];
    assert_eq!(queue.queued(), 2, "operations queued while a batch was out");
    queue.answer(2);
    assert_eq!(take.await, Some(Ok(2)));
    assert_eq!(commit.await, Some(Ok(3)));
    for (waiting, id) in later.into_iter().zip([4, 5]) {
        assert_eq!(waiting.await, Some(Ok(id)));
    }
    assert_eq!(queue.take_sent(), [sent(&[2], &[3]), sent(&[4, 5], &[])]);
    // Idle again once the draining task is done: the next operation goes alone.
    until("the queue going idle", || queue.idle()).await;
    drop(queue.take_alone(op(6, "f")));
}

#[tokio::test]
async fn operations_queued_while_a_batch_is_out_go_in_the_next_batch() {
    bounded(queued_while_a_batch_is_out_go_in_the_next::<false, 1>()).await;
    bounded(queued_while_a_batch_is_out_go_in_the_next::<true, 2>()).await;
}

#[tokio::test]
async fn a_second_request_goes_out_while_the_first_is_at_the_server() {
    bounded(async {
        let queue = queue::<true, 2>();
        let alone = queue.take_alone(op(1, "a"));
        // Two takes of one key: the second cannot join the first's batch, and goes out as a
        // request of its own without waiting for the first's answer.
        let first = queue.queue_take(op(2, "b"));
        let second = queue.queue_take(op(3, "b"));
        drop(alone);
        until("two requests at the server", || queue.sent() == 2).await;
        queue.answer(2);
        assert_eq!(first.await, Some(Ok(2)));
        assert_eq!(second.await, Some(Ok(3)));
        assert_eq!(queue.take_sent(), [sent(&[2], &[]), sent(&[3], &[])]);
    })
    .await;
}

async fn answers_reach_their_own_waiters<const K: bool, const N: usize>() {
    let queue = queue::<K, N>();
    let alone = queue.take_alone(op(0, "alone"));
    let keys = ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10"];
    let takes: Vec<_> = (1..=10)
        .zip(keys)
        .map(|(id, key)| (id, queue.queue_take(op(id, key))))
        .collect();
    let commits: Vec<_> = (11..=15)
        .zip(keys)
        .map(|(id, key)| (id, queue.queue_commit(op(id, key))))
        .collect();
    queue.answer(100);
    drop(alone);
    for (id, waiting) in takes.into_iter().chain(commits) {
        assert_eq!(waiting.await, Some(Ok(id)), "operation {id}");
    }
    let sent = queue.take_sent();
    for request in &sent {
        assert!(
            request.takes.len() <= 3 && request.commits.len() <= 3,
            "{request:?}"
        );
        assert!(
            request.takes.len() + request.commits.len() <= 4,
            "{request:?}"
        );
    }
    let ops: usize = sent.iter().map(|r| r.takes.len() + r.commits.len()).sum();
    assert_eq!(ops, 15, "every operation sent once: {sent:?}");
}

#[tokio::test]
async fn each_answer_reaches_its_own_waiter_in_bounded_batches() {
    bounded(answers_reach_their_own_waiters::<false, 1>()).await;
    bounded(answers_reach_their_own_waiters::<true, 2>()).await;
}

#[tokio::test]
async fn a_batch_holds_at_most_max_batch_commits_first() {
    bounded(async {
        let queue = queue::<false, 1>();
        let alone = queue.take_alone(op(0, "alone"));
        let waiting: Vec<_> = (1..=10)
            .map(|id| queue.queue_take(op(id, "k")))
            .chain((11..=15).map(|id| queue.queue_commit(op(id, "k"))))
            .collect();
        queue.answer(100);
        drop(alone);
        for waiting in waiting {
            assert!(waiting.await.is_some());
        }
        assert_eq!(
            queue.take_sent(),
            [
                sent(&[1], &[11, 12, 13]),
                sent(&[2, 3], &[14, 15]),
                sent(&[4, 5, 6], &[]),
                sent(&[7, 8, 9], &[]),
                sent(&[10], &[]),
            ]
        );
    })
    .await;
}

async fn errors_reach_every_waiter<const K: bool, const N: usize>() {
    let queue = queue::<K, N>();
    queue.requests().failing.store(true, Ordering::Relaxed);
    let alone = queue.take_alone(op(0, "alone"));
    let waiting = [
        queue.queue_take(op(1, "a")),
        queue.queue_take(op(2, "b")),
        queue.queue_commit(op(3, "c")),
    ];
    queue.answer(1);
    drop(alone);
    for waiting in waiting {
        assert_eq!(waiting.await, Some(Err("a batch of 3 failed".to_owned())));
    }
    assert_eq!(queue.take_sent(), [sent(&[1, 2], &[3])]);
}

#[tokio::test]
async fn a_failed_request_fails_every_waiter_of_its_batch() {
    bounded(errors_reach_every_waiter::<false, 1>()).await;
    bounded(errors_reach_every_waiter::<true, 2>()).await;
}

#[tokio::test]
async fn one_per_key_batches_hold_each_key_once_and_takes_in_key_order() {
    bounded(async {
        let queue = queue::<true, 1>();
        let alone = queue.take_alone(op(0, "alone"));
        let waiting: Vec<_> = [(1, "c"), (2, "a"), (3, "c"), (4, "b")]
            .into_iter()
            .map(|(id, key)| (id, queue.queue_take(op(id, key))))
            .collect();
        queue.answer(100);
        drop(alone);
        for (id, waiting) in waiting {
            assert_eq!(waiting.await, Some(Ok(id)));
        }
        assert_eq!(queue.take_sent(), [sent(&[2, 4, 1], &[]), sent(&[3], &[])]);
    })
    .await;
}

#[tokio::test]
async fn callers_that_stop_waiting_leave_no_lease_behind() {
    bounded(async {
        let queue = queue::<false, 1>();
        let alone = queue.take_alone(op(0, "alone"));
        drop(queue.queue_take(op(1, "never sent")));
        drop(queue.queue_commit(op(2, "released")));
        let gives_up = queue.queue_take(op(3, "taken"));
        drop(alone);
        until("the batch going out", || queue.sent() == 1).await;
        // The caller leaves while its take is at the server: the lease it gets is released.
        drop(gives_up);
        queue.answer(2);
        until("the release going out", || queue.sent() == 2).await;
        until("the queue going idle", || queue.idle()).await;
        let sent = queue.take_sent();
        assert_eq!(
            sent,
            [
                Sent {
                    takes: vec![3],
                    commits: vec![(2, true)]
                },
                Sent {
                    takes: vec![],
                    commits: vec![(3, true)]
                },
            ]
        );
    })
    .await;
}

/// A runtime that shuts down right after a request was answered drops the draining task it
/// spawned before it ever ran; the queue must not stay busy waiting for it.
#[test]
fn a_draining_task_dropped_before_it_ran_leaves_the_queue_usable() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let first = runtime();
    let queue = first.block_on(async { queue::<false, 1>() });
    let alone = queue.take_alone(op(1, "a"));
    let dropped = queue.queue_take(op(2, "b"));
    // Spawns the draining task, which the runtime drops unpolled as it shuts down.
    first.block_on(async { drop(alone) });
    drop(first);
    // Handed over outside any runtime, with the store's runtime gone: the task is dropped at
    // once.
    let alone = queue.take_alone(op(3, "c"));
    let dropped_too = queue.queue_take(op(4, "d"));
    drop(alone);

    runtime().block_on(bounded(async {
        assert_eq!(dropped.await, None, "an operation of the dropped queue");
        assert_eq!(dropped_too.await, None, "an operation of the dropped queue");
        let alone = queue.take_alone(op(5, "e"));
        let waiting = queue.queue_take(op(6, "f"));
        queue.answer(1);
        drop(alone);
        assert_eq!(waiting.await, Some(Ok(6)));
    }));
}

#[test]
fn an_emptied_queue_is_the_next_batch() {
    let mut queue = vec![1, 2, 3];
    let mut spare = Vec::with_capacity(8);
    let (queued, spared) = (queue.as_ptr(), spare.as_ptr());
    let batch = split_batch(&mut queue, &mut spare, 4);
    assert_eq!((batch.as_ptr(), queue.as_ptr()), (queued, spared));
    assert_eq!(batch, [1, 2, 3]);

    let mut queue: Vec<&[u8]> = vec![b"a", b"b"];
    let mut spare = Vec::with_capacity(8);
    let (queued, spared) = (queue.as_ptr(), spare.as_ptr());
    let batch = split_one_per_key(&mut queue, &mut spare, 4, |k| k, &mut KeySet::default());
    assert_eq!((batch.as_ptr(), queue.as_ptr()), (spared, queued));
    assert_eq!(batch, [b"a", b"b"]);
}

#[test]
fn a_one_per_key_batch_holds_each_key_once_and_the_rest_keeps_its_order() {
    let mut queue: Vec<&[u8]> = vec![b"a", b"b", b"a", b"c", b"b", b"a"];
    let mut keys = KeySet::default();
    let batch = split_one_per_key(&mut queue, &mut Vec::new(), 8, |k| k, &mut keys);
    assert_eq!(batch, [b"a", b"b", b"c"]);
    assert_eq!(queue, [b"a", b"b", b"a"]);
    let batch = split_one_per_key(&mut queue, &mut Vec::new(), 8, |k| k, &mut keys);
    assert_eq!(
        (batch, &queue),
        (vec![b"a" as &[u8], b"b"], &vec![b"a" as &[u8]])
    );
    let mut queue: Vec<&[u8]> = vec![b"a", b"b", b"c"];
    assert_eq!(
        split_one_per_key(&mut queue, &mut Vec::new(), 2, |k| k, &mut keys).len(),
        2
    );
    assert_eq!(queue, [b"c"]);
}
