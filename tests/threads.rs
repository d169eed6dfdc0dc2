//! The thread count per call: chosen from the work size by default, exactly the one asked for otherwise.
//! (A binary of its own: set_num_threads is process-wide.)
use ranked_list_loss::{num_threads, set_num_threads, threads_for, WORK_PER_THREAD};

#[test]
fn the_default_follows_the_work_and_an_explicit_count_wins() {
    if std::env::var_os("RLL_NUM_THREADS").is_some() {
        return assert_eq!(
            threads_for(60, 512),
            num_threads(),
            "RLL_NUM_THREADS is an explicit count"
        );
    }
    set_num_threads(0);
    let machine = num_threads();
    // The paper's batches are below one thread's worth of work; a 4096×512 batch has work for many threads.
    const { assert!(60.0 * 60.0 * (512.0 + 64.0) < WORK_PER_THREAD) };
    assert_eq!(threads_for(60, 512), 1);
    assert_eq!(threads_for(1, 1), 1);
    let work = 4096.0 * 4096.0 * (512.0 + 64.0) / WORK_PER_THREAD;
    assert_eq!(threads_for(4096, 512), (work as usize + 1).min(machine));
    assert_eq!(threads_for(512, 128), 2.min(machine));
    set_num_threads(3);
    assert_eq!(threads_for(60, 512), 3);
    assert_eq!(threads_for(4096, 512), 3);
    set_num_threads(0);
}
