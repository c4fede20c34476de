//! Support code shared by the rampart binaries. The binaries themselves live in
//! `src/bin/`; each is small enough to read in one sitting.
#![forbid(unsafe_code)]
