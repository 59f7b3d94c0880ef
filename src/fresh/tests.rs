use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::Fresh;

fn two_seconds(_: &u32) -> Duration {
    Duration::from_secs(2)
}

/// A load that counts itself and answers with its own number.
async fn counted(loads: &AtomicU32) -> Result<u32, String> {
    Ok(loads.fetch_add(1, Ordering::SeqCst) + 1)
}

#[tokio::test(start_paused = true)]
async fn a_value_is_kept_for_its_lifetime_and_loaded_again_after() {
    let fresh = Fresh::new(two_seconds);
    let loads = AtomicU32::new(0);
    assert_eq!(fresh.get(), None);
    assert_eq!(fresh.get_or_load(|| counted(&loads)).await, Ok(1));
    tokio::time::advance(Duration::from_millis(1_999)).await;
    assert_eq!(fresh.get(), Some(1));
    assert_eq!(fresh.get_or_load(|| counted(&loads)).await, Ok(1));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(fresh.get(), None);
    assert_eq!(fresh.get_or_load(|| counted(&loads)).await, Ok(2));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn each_value_lives_as_long_as_it_says() {
    let fresh = Fresh::new(|seconds: &u32| Duration::from_secs(u64::from(*seconds)));
    assert_eq!(fresh.get_or_load(|| async { Ok::<_, ()>(5) }).await, Ok(5));
    tokio::time::advance(Duration::from_secs(4)).await;
    assert_eq!(fresh.get(), Some(5));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(fresh.get(), None);
    // A value with no time left is handed to its caller and not kept.
    assert_eq!(fresh.get_or_load(|| async { Ok::<_, ()>(0) }).await, Ok(0));
    assert_eq!(fresh.get(), None);
}

/// Twenty callers asking at once, each with a load that takes 50 ms and answers what
/// `answer` makes of its number (the first load is 1): what each got, and how many loads ran.
async fn twenty_at_once(
    fresh: &Arc<Fresh<u32, String>>,
    answer: fn(u32) -> Result<u32, String>,
) -> (Vec<Result<u32, String>>, u32) {
    let loads = Arc::new(AtomicU32::new(0));
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let (fresh, loads) = (fresh.clone(), loads.clone());
            tokio::spawn(async move {
                fresh
                    .get_or_load(|| async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        answer(loads.fetch_add(1, Ordering::SeqCst) + 1)
                    })
                    .await
            })
        })
        .collect();
    let mut got = Vec::new();
    for caller in callers {
        got.push(caller.await.unwrap());
    }
    (got, loads.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn callers_that_find_nothing_wait_for_one_load() {
    let fresh = Arc::new(Fresh::new(two_seconds));
    let (got, loads) = twenty_at_once(&fresh, Ok).await;
    assert_eq!(got, vec![Ok(1); 20]);
    assert_eq!(loads, 1);
}

#[tokio::test(start_paused = true)]
async fn callers_that_waited_for_a_failed_load_get_its_error() {
    let fresh = Arc::new(Fresh::new(two_seconds));
    let (got, loads) = twenty_at_once(&fresh, |n| Err(format!("load {n} failed"))).await;
    assert_eq!(got, vec![Err("load 1 failed".to_owned()); 20]);
    assert_eq!(loads, 1);
    // A caller that comes after the failure loads again.
    assert_eq!(fresh.get_or_load(|| async { Ok(9) }).await, Ok(9));
}

#[tokio::test]
async fn a_failed_load_keeps_nothing_and_the_next_caller_loads_again() {
    let fresh = Fresh::new(two_seconds);
    let failed = fresh.get_or_load(|| async { Err::<u32, _>("down") }).await;
    assert_eq!(failed, Err("down"));
    assert_eq!(fresh.get(), None);
    assert_eq!(
        fresh.get_or_load(|| async { Ok::<_, &str>(7) }).await,
        Ok(7)
    );
    assert_eq!(fresh.get(), Some(7));
}

#[tokio::test(start_paused = true)]
async fn forgetting_drops_the_value_and_what_a_load_under_way_read() {
    let fresh = Arc::new(Fresh::new(two_seconds));
    assert_eq!(fresh.get_or_load(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    fresh.forget();
    assert_eq!(fresh.get(), None);
    // A load that read before a save finishes after it: its caller gets what it read,
    // and the next caller reads again rather than keep it.
    let slow = {
        let fresh = fresh.clone();
        tokio::spawn(async move {
            fresh
                .get_or_load(|| async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, ()>(2)
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    fresh.forget();
    assert_eq!(slow.await.unwrap(), Ok(2));
    assert_eq!(fresh.get(), None);
    assert_eq!(fresh.get_or_load(|| async { Ok::<_, ()>(3) }).await, Ok(3));
    assert_eq!(fresh.get(), Some(3));
}

#[tokio::test]
async fn forget_if_drops_only_the_value_it_names() {
    let fresh = Fresh::new(two_seconds);
    assert_eq!(fresh.get_or_load(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    fresh.forget_if(|v| *v == 2);
    assert_eq!(fresh.get(), Some(1));
    fresh.forget_if(|v| *v == 1);
    assert_eq!(fresh.get(), None);
}
