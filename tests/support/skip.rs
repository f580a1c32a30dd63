//! Skipping a test whose outside dependency (a corpus, Chromium, a small filesystem,
//! the mail stack) is missing: a visible `SKIPPED:` line on a developer's machine, a
//! failure under the test command. `tests/run.sh` (and so CI) sets
//! `TICKETPOST_TEST_REQUIRE_ALL=1`, because a skipped test that passes proves nothing.

#![allow(dead_code)]

/// The variable under which a missing dependency fails the test.
pub const REQUIRE_ALL: &str = "TICKETPOST_TEST_REQUIRE_ALL";

/// Whether missing dependencies must fail the run.
pub fn required() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Says that `what` is skipped and why; under [`REQUIRE_ALL`], fails instead.
pub fn skip(what: impl std::fmt::Display) {
    assert!(
        !required(),
        "{what}: {REQUIRE_ALL} is set (tests/run.sh, CI), so a missing dependency fails the run instead of skipping"
    );
    println!("SKIPPED: {what}");
}
