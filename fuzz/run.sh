#!/usr/bin/env bash
# Builds a fuzz target with libFuzzer's coverage instrumentation on the
# stable toolchain, then fuzzes it.
#
#   fuzz/run.sh [--target NAME] [SECONDS] [LIBFUZZER_ARGS...]
#
# NAME is one of fuzz_targets/*.rs: `parse_compile` (the default), `test_file`
# or `diff`; FUZZ_TARGET=NAME in the environment picks it too (`--target`
# wins). SECONDS defaults to 60. Anything after it goes to libFuzzer as is,
# e.g. `fuzz/run.sh 600 -max_len=512` or `fuzz/run.sh --target diff 60 -fork=2`.
#
# The flags are those `cargo fuzz build --sanitizer none` (cargo-fuzz 0.13)
# passes; none of them needs nightly, so cargo-fuzz itself is not needed.
# See fuzz/README.md.
set -euo pipefail

usage() {
	echo "usage: $0 [--target NAME] [SECONDS] [LIBFUZZER_ARGS...]" >&2
	exit 2
}

target=${FUZZ_TARGET:-parse_compile}
case ${1:-} in
--target)
	[ $# -ge 2 ] || usage
	target=$2
	shift 2
	;;
--target=*)
	target=${1#--target=}
	shift
	;;
esac
seconds=${1:-60}
shift || true
case $seconds in
'' | *[!0-9]*) usage ;;
esac

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$fuzz_dir"
case $target in
'' | */* | .*) usage ;;
esac
if [ ! -f "fuzz_targets/$target.rs" ]; then
	echo "$0: no fuzz target \`$target'; there are:" $(cd fuzz_targets && ls | sed 's/\.rs$//') >&2
	exit 2
fi

# Only the fuzz target gets the instrumentation: with an explicit --target,
# RUSTFLAGS skip build scripts and proc macros (pest_derive), as they must.
host=$(rustc -vV | sed -n 's/^host: //p')
# Same flags, in the same order, as cargo-fuzz, so either may reuse the
# other's build; a RUSTFLAGS of the caller's comes last, as there.
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
-Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions \
-Ccodegen-units=1 \
${RUSTFLAGS:-}"
cargo build --release --config 'profile.release.debug="line-tables-only"' \
	--manifest-path Cargo.toml --target "$host" --bin "$target"
binary=target/$host/release/$target

# New inputs go to work/ (git-ignored); the committed seed corpus is only
# read. Crashes and timeouts land in artifacts/.
mkdir -p "work/$target" "artifacts/$target"
# A panic prints its message and backtrace before libFuzzer aborts.
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

# Fork mode (one worker) so that a slow input is recorded in artifacts/ as a
# timeout and fuzzing goes on; a crash still stops the run. The known
# exponential-time inputs of README.md would otherwise end every run early.
# A target's dictionary of tokens (the keywords and operators of the
# grammar), when it has one, helps libFuzzer past the lexer.
dict=()
if [ -f "$target.dict" ]; then
	dict=("-dict=$target.dict")
fi
exec "$binary" \
	"${dict[@]}" \
	-fork=1 -ignore_timeouts=1 -ignore_ooms=0 -ignore_crashes=0 \
	-timeout=5 -rss_limit_mb=4096 \
	-max_total_time="$seconds" -print_final_stats=1 \
	-artifact_prefix="artifacts/$target/" \
	"$@" \
	"work/$target" "corpus/$target"
