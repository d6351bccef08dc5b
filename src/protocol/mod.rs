//! The Gearman wire codec: binary packets and admin text lines. Pure: no job state, no I/O.
