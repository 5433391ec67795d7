//! `wpod lesson`: every lesson's check passes on its reference solution and fails, with a hint,
//! on its starting manifest; every lesson's pod runs; both languages are there.

use crate::support::{Scratch, run_args};

fn lesson_numbers() -> Vec<String> {
    let list = run_args(&["lesson", "--lang", "en", "list"]);
    assert_eq!(list.code, 0, "{list:?}");
    let numbers: Vec<String> = list
        .stdout
        .lines()
        .map_while(|l| {
            l.split_whitespace()
                .next()
                .filter(|n| n.parse::<u32>().is_ok())
        })
        .map(str::to_string)
        .collect();
    assert!(numbers.len() >= 16, "{list:?}");
    numbers
}

/// Checks one lesson end to end.
fn lesson_works(n: &str, scratch: &Scratch) {
    let manifest = |which: &str| {
        let shown = run_args(&["lesson", "show", n, "--manifest", which]);
        assert_eq!(shown.code, 0, "lesson {n} {which}: {shown:?}");
        scratch.write(&format!("{n}-{which}.yaml"), shown.stdout)
    };
    let (solution, start) = (manifest("solution"), manifest("start"));
    let passed = run_args(&[
        "lesson",
        "--lang",
        "en",
        "check",
        n,
        &solution.to_string_lossy(),
    ]);
    assert_eq!(
        passed.code, 0,
        "lesson {n}: the solution must pass: {passed:?}"
    );
    assert!(passed.stdout.ends_with("passed\n"), "{passed:?}");
    let failed = run_args(&[
        "lesson",
        "--lang",
        "zh",
        "check",
        n,
        &start.to_string_lossy(),
    ]);
    assert_eq!(
        failed.code, 1,
        "lesson {n}: the start must fail: {failed:?}"
    );
    assert!(
        failed.stdout.contains("未通过。提示："),
        "lesson {n}: {failed:?}"
    );
    let ran = run_args(&["lesson", "run", n]);
    assert_eq!(ran.code, 0, "lesson {n}: its pod must run: {ran:?}");
    assert!(ran.stdout.contains("## What to observe"), "{ran:?}");
}

#[test]
fn every_lesson_checks_its_solution_and_its_start_and_runs_its_pod() {
    let scratch = Scratch::new("lessons");
    let numbers = lesson_numbers();
    // Four at a time: most of each run is a lesson's own timeout, not CPU.
    for chunk in numbers.chunks(4) {
        std::thread::scope(|s| {
            for n in chunk {
                let scratch = &scratch;
                s.spawn(move || lesson_works(n, scratch));
            }
        });
    }
}

#[test]
fn a_lesson_reads_in_both_languages_and_a_wrong_number_is_a_usage_error() {
    let en = run_args(&["lesson", "--lang", "en", "show", "4"]);
    let zh = run_args(&["lesson", "--lang", "zh", "show", "4"]);
    assert_eq!((en.code, zh.code), (0, 0), "{en:?}{zh:?}");
    assert!(en.stdout.contains("## Exercise"), "{en:?}");
    assert!(zh.stdout.contains("## 练习"), "{zh:?}");
    assert!(zh.stdout.contains("Infra 容器"), "{zh:?}");
    let missing = run_args(&["lesson", "show", "99"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("there is no lesson 99"),
        "{missing:?}"
    );
}
