//! The PromQL engine. (Being built for issue 4.)
