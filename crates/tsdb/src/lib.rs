//! The time-series store. (Being built for issue 4.)
