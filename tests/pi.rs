//! `pi` through the library: exact agreement with the reference at any thread count.

use gpucalc::{
    pi, pi_on, pi_reference_hits, pi_with, CancelToken, Device, DeviceOptions, DeviceSpec,
    RunControl,
};

fn cpu(threads: usize) -> Device {
    Device::select_with(&DeviceSpec::Cpu, &DeviceOptions::threads(threads)).unwrap()
}

#[test]
fn cpu_hits_equal_the_reference_for_awkward_sizes() {
    let device = cpu(2);
    for n in [
        1u64, 2, 3, 5, 31, 32, 33, 63, 64, 65, 1000, 4097, 65_537, 1_000_003,
    ] {
        for seed in [0u64, 1, u64::from(u32::MAX) + 1, u64::MAX] {
            let r = pi(&device, n, seed).unwrap();
            assert_eq!(r.hits, pi_reference_hits(seed, 0, n), "n {n} seed {seed}");
            assert_eq!(r.samples, n);
        }
    }
}

#[test]
fn hits_are_identical_at_every_thread_count() {
    let n = 50_000_017;
    let expected = pi(&cpu(1), n, 3).unwrap().hits;
    for threads in [2, 3, 7, 16] {
        assert_eq!(
            pi(&cpu(threads), n, 3).unwrap().hits,
            expected,
            "{threads} threads"
        );
    }
}

#[test]
fn progress_reaches_the_total_and_cancel_gives_a_prefix() {
    let device = cpu(2);
    let seen = std::sync::Mutex::new(Vec::new());
    let report = |done: u64, total: u64| seen.lock().unwrap().push((done, total));
    let control = RunControl {
        cancel: None,
        progress: Some(&report),
    };
    let n = 200_000_001;
    let r = pi_with(&device, n, 9, &control).unwrap();
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() > 1);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(*seen.last().unwrap(), (n, n));
    assert!(!r.partial);

    // Cancelled from inside the run, after its second chunk: the result is
    // exactly the first `samples` samples of the stream.
    let cancel = CancelToken::new();
    let chunks = std::sync::atomic::AtomicUsize::new(0);
    let stop_after_two = |_: u64, _: u64| {
        if chunks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            cancel.cancel();
        }
    };
    let control = RunControl {
        cancel: Some(cancel.clone()),
        progress: Some(&stop_after_two),
    };
    let r = pi_with(&device, n, 9, &control).unwrap();
    assert!(r.partial);
    assert!(r.samples > 0 && r.samples < n, "{} samples", r.samples);
    assert_eq!(r.hits, pi(&device, r.samples, 9).unwrap().hits);
    assert_eq!(r.requested, n);
}

#[test]
fn sample_counts_out_of_range_are_errors() {
    let device = cpu(1);
    assert!(pi(&device, 0, 0).is_err());
    assert!(pi(&device, (1 << 63) + 1, 0).is_err());
    assert!(pi_on(&[], 10, 0, &RunControl::default()).is_err());
}

#[test]
fn several_devices_at_once_give_the_hits_of_one() {
    // Three CPU devices of different widths stand in for unequal GPUs.
    let devices = [cpu(1), cpu(2), cpu(3)];
    for n in [1u64, 2, 3, 1001, 65_537, 120_000_001] {
        for seed in [0u64, u64::MAX] {
            let r = pi_on(&devices, n, seed, &RunControl::default()).unwrap();
            assert_eq!(r.hits, pi_reference_hits(seed, 0, n), "n {n} seed {seed}");
            assert_eq!(r.shares.len(), 3);
            let shares = |f: fn(&gpucalc::PiShare) -> u64| r.shares.iter().map(f).sum::<u64>();
            assert_eq!(shares(|s| s.samples), n);
            assert_eq!(shares(|s| s.hits), r.hits);
            assert!(!r.partial);
        }
    }
    // A run of many chunks is shared out (each device takes at least one).
    let r = pi_on(&devices, 120_000_001, 4, &RunControl::default()).unwrap();
    let chunks: Vec<u64> = r.shares.iter().map(|s| s.chunks).collect();
    assert!(chunks.iter().sum::<u64>() > 3, "{chunks:?}");
}

#[test]
fn a_cancelled_farm_is_a_prefix_of_the_stream() {
    let devices = [cpu(1), cpu(1)];
    let cancel = CancelToken::new();
    let reports = std::sync::Mutex::new(Vec::new());
    let stop_after_three = |done: u64, total: u64| {
        let mut seen = reports.lock().unwrap();
        seen.push((done, total));
        if seen.len() == 3 {
            cancel.cancel();
        }
    };
    let control = RunControl {
        cancel: Some(cancel.clone()),
        progress: Some(&stop_after_three),
    };
    let n = 1 << 40;
    let r = pi_on(&devices, n, 11, &control).unwrap();
    assert!(r.partial);
    assert!(r.samples > 0 && r.samples < n, "{} samples", r.samples);
    // Whatever each device was doing when the flag went up was finished, so
    // the samples drawn are exactly 0 .. samples.
    assert_eq!(r.hits, pi(&devices[0], r.samples, 11).unwrap().hits);
    let reports = reports.into_inner().unwrap();
    assert_eq!(reports.iter().map(|r| r.0).max(), Some(r.samples));
}
