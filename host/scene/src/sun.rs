//! The region's sun clock (§3.8) and the `SetSunParameters` rules (§4.6.2).
//!
//! The model never reads a clock: every function that needs "now" takes the
//! caller's Unix seconds, so the rules stay deterministic and testable.

use serde::{Deserialize, Serialize};

use crate::change::SceneChange;

const SECONDS_PER_HOUR: f64 = 3600.0;

/// The sun parameters of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sun {
    /// Virtual days per virtual year (integer-valued on the wire, Q-39).
    pub year_length_days: i32,
    /// Real-time hours per virtual day.
    pub day_length_hours: f64,
    /// Shift of the sun's orbit above the horizon ("day_night_offset").
    pub horizon_shift: f64,
    /// Fraction of the day that is daylight.
    pub day_time_sun_hour_scale: f64,
    /// Added to the wall clock to compute the sun clock.
    pub time_offset_s: i64,
}

impl Default for Sun {
    /// The defaults a fresh region reports (RC-58).
    fn default() -> Self {
        Sun {
            year_length_days: 60,
            day_length_hours: 4.0,
            horizon_shift: 0.5,
            day_time_sun_hour_scale: 0.5,
            time_offset_s: 0,
        }
    }
}

/// The members of `SetSunParameters`, with the wire's meaning: a tunable that is
/// not strictly positive means "keep"; `current_time_hours` is always applied
/// (absent on the wire = 0 = midnight, Q-37).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SunUpdate {
    pub year_length_days: f64,
    pub day_length_hours: f64,
    pub horizon_shift: f64,
    pub day_time_sun_hour_scale: f64,
    pub current_time_hours: f64,
}

impl Sun {
    /// Seconds of one virtual day, truncated to whole seconds and at least one,
    /// so the clock arithmetic never divides by zero.
    fn day_seconds(&self) -> i64 {
        ((self.day_length_hours * SECONDS_PER_HOUR) as i64).max(1)
    }

    /// Sun time in hours, `0 <= t < 24`, 6 = sunrise in the viewer's convention.
    pub fn current_time_hours(&self, unix_seconds: i64) -> f64 {
        let day = self.day_seconds();
        let into_day = unix_seconds.wrapping_add(self.time_offset_s).rem_euclid(day);
        let sun_hour = 24.0 * into_day as f64 / day as f64;
        (sun_hour + 6.0).rem_euclid(24.0)
    }

    /// Applies `SetSunParameters`: positive tunables first, then the clock is
    /// shifted so that it reads `current_time_hours` (taken modulo 24, Q-38) now.
    pub fn apply(&mut self, update: SunUpdate, unix_seconds: i64) -> Vec<SceneChange> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let before = self.clone();
        // Truncation toward zero; a value in (0, 1) would truncate to the
        // zero the rules say can never be set, so it counts as "keep".
        if positive(update.year_length_days) && update.year_length_days >= 1.0 {
            self.year_length_days = update.year_length_days.min(f64::from(i32::MAX)) as i32;
        }
        if positive(update.day_length_hours) {
            self.day_length_hours = update.day_length_hours;
        }
        if positive(update.horizon_shift) {
            self.horizon_shift = update.horizon_shift;
        }
        if positive(update.day_time_sun_hour_scale) {
            self.day_time_sun_hour_scale = update.day_time_sun_hour_scale;
        }
        let wanted = if update.current_time_hours.is_finite() { update.current_time_hours.rem_euclid(24.0) } else { 0.0 };
        let day = self.day_seconds();
        let sun_hour = (wanted - 6.0).rem_euclid(24.0);
        let target = ((sun_hour / 24.0 * day as f64).round() as i64).rem_euclid(day);
        self.time_offset_s = (target - unix_seconds.rem_euclid(day)).rem_euclid(day);
        if *self == before {
            Vec::new()
        } else {
            vec![SceneChange::SunChanged]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_123;

    #[test]
    fn rc_58_fresh_defaults() {
        let sun = Sun::default();
        assert_eq!(sun.year_length_days, 60);
        assert_eq!(sun.day_length_hours, 4.0);
        assert_eq!(sun.horizon_shift, 0.5);
        assert_eq!(sun.day_time_sun_hour_scale, 0.5);
        for t in [0, 1, NOW, -5, i64::MAX] {
            let h = sun.current_time_hours(t);
            assert!((0.0..24.0).contains(&h), "{h}");
        }
    }

    #[test]
    fn rc_59_positive_values_applied_others_ignored() {
        let mut sun = Sun::default();
        sun.apply(
            SunUpdate {
                year_length_days: 61.9,
                day_length_hours: 0.0,
                horizon_shift: -1.0,
                day_time_sun_hour_scale: 0.25,
                current_time_hours: 0.0,
            },
            NOW,
        );
        assert_eq!(sun.year_length_days, 61);
        assert_eq!(sun.day_length_hours, 4.0);
        assert_eq!(sun.horizon_shift, 0.5);
        assert_eq!(sun.day_time_sun_hour_scale, 0.25);
    }

    #[test]
    fn rc_60_current_time_is_set_now() {
        let mut sun = Sun::default();
        sun.apply(
            SunUpdate {
                day_length_hours: 2.0,
                current_time_hours: 12.0,
                ..Default::default()
            },
            NOW,
        );
        assert!((sun.current_time_hours(NOW) - 12.0).abs() < 0.05);
        // Omitted = 0 = midnight.
        sun.apply(SunUpdate::default(), NOW);
        let t = sun.current_time_hours(NOW);
        assert!(!(0.05..=23.95).contains(&t), "{t}");
    }

    #[test]
    fn rc_60_clock_advances_24_over_day_length_per_hour() {
        let mut sun = Sun::default();
        sun.apply(
            SunUpdate {
                current_time_hours: 6.0,
                ..Default::default()
            },
            NOW,
        );
        // One real hour on a 4-hour day is 6 sun hours.
        assert!((sun.current_time_hours(NOW + 3600) - 12.0).abs() < 0.01);
    }

    #[test]
    fn rc_61_current_time_taken_modulo_24() {
        let mut sun = Sun::default();
        sun.apply(
            SunUpdate {
                current_time_hours: -6.0,
                ..Default::default()
            },
            NOW,
        );
        assert!((sun.current_time_hours(NOW) - 18.0).abs() < 0.05);
        sun.apply(
            SunUpdate {
                current_time_hours: 30.0,
                ..Default::default()
            },
            NOW,
        );
        assert!((sun.current_time_hours(NOW) - 6.0).abs() < 0.05);
    }

    #[test]
    fn rc_59_fractional_year_below_one_keeps_value() {
        let mut sun = Sun::default();
        sun.apply(
            SunUpdate {
                year_length_days: 0.5,
                ..Default::default()
            },
            NOW,
        );
        assert_eq!(sun.year_length_days, 60);
    }
}
