#!/bin/bash
# charmfs benchmarks against libfuse's passthrough_ll and squashfuse, on the
# same files in the same run (see README.md).
#
#   tests/bench/run.sh [all]   metadata, reads and publish (needs setup.sh first)
#   tests/bench/run.sh rss     daemon RSS with RSS_CHARMS (10,000) charms stored
#   tests/bench/run.sh upgrade upgrade.sh: release download and verification
#                              (its own data, servers and BUILD; see upgrade.sh)
#
# Environment: CHARMFS (binary, default /tmp/bench-build/charmfs), OUT,
# COLD_REPS (3), WARM_REPS (5), PUB_REPS (3), PT_OPTS (extra passthrough_ll
# -o options, e.g. cache=always), CF_OPTS, RSS_CHARMS (10000), ONLY (a
# space-separated subset of: stat ls big small publish; default all).
#
# Not part of `make check`; nothing here asserts on time.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODE=${1:-all}
# The benchmarks with a script of their own, which need none of the setup below.
case $MODE in
upgrade) exec "$BENCH/upgrade.sh" ;;
esac
COLD_REPS=${COLD_REPS:-3}
WARM_REPS=${WARM_REPS:-5}
PUB_REPS=${PUB_REPS:-3}
RSS_CHARMS=${RSS_CHARMS:-10000}
ONLY=${ONLY:-stat ls big small publish}

want() { [[ " $ONLY " == *" $1 "* ]]; }

trap 'stop_all' EXIT
trap 'exit 130' INT TERM

[ -x "$CHARMFS" ] || die "no charmfs binary at $CHARMFS (see README.md)"
"$BENCH/build-refs.sh" >/dev/null
mkdir -p "$OUT/mnt"

# (printf: mawk prints a number over 2^31 as 2.165e+09, which $((...)) cannot read)
median() { sort -n | awk '{v[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else printf "%.0f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# time_ns DIR COMMAND...: runs COMMAND in DIR, prints elapsed nanoseconds.
time_ns() {
	local dir=$1 t0 t1
	shift
	t0=$(now_ns)
	(cd "$dir" && "$@") >/dev/null || log "warning: '$*' failed in $dir"
	t1=$(now_ns)
	echo $((t1 - t0))
}

declare -A RES=()   # "metric|fs" -> list of samples (ns), one a line

add_sample() { RES["$1|$2"]+="$3"$'\n'; }

# bench_cw METRIC CHUNKS COMMAND...: for each rep, for each fs: for each of
# CHUNKS chunks (the command gets the chunk number as its last argument):
# drop caches, one cold run, then WARM_REPS warm runs (PHASE=cold or warm in
# the command's environment). Records the sums over the chunks as METRIC
# (cold) and METRIC (warm).
#
# Chunks exist because passthrough_ll holds one open descriptor per inode the
# kernel knows, and this VM's hard RLIMIT_NOFILE is 20000 (raising it needs
# CAP_SYS_RESOURCE): a walk over the whole 1,000 x 3 tree (51,001 inodes)
# fails with EMFILE there. Dropping the caches between chunks makes the kernel
# forget the inodes. All three filesystems run the same chunks.
bench_cw() {
	local metric=$1 chunks=$2 rep fs mnt i c k cold t
	shift 2
	local -a warm
	local -a order=(charmfs pt sq)
	for rep in $(seq 1 "$COLD_REPS"); do
		# Each rep starts with another filesystem, so none always runs first.
		for k in 0 1 2; do
			fs=${order[(rep - 1 + k) % 3]}
			mnt=${MNTS[$fs]}
			cold=0
			warm=()
			for i in $(seq 1 "$WARM_REPS"); do warm[i]=0; done
			for c in $(seq 0 $((chunks - 1))); do
				drop_caches
				sleep 0.3  # let the daemons process the FORGETs
				t=$(PHASE=cold time_ns "$mnt" "$@" "$c")
				cold=$((cold + t))
				for i in $(seq 1 "$WARM_REPS"); do
					t=$(PHASE=warm time_ns "$mnt" "$@" "$c")
					warm[i]=$((warm[i] + t))
				done
			done
			add_sample "$metric (cold)" "$fs" "$cold"
			for i in $(seq 1 "$WARM_REPS"); do
				add_sample "$metric (warm)" "$fs" "${warm[i]}"
			done
		done
	done
}

# Workloads; the last argument is the chunk number.
CHUNKS=4
# A warm stat sends no request to any of the daemons: it is the kernel's
# dcache alone, ~10 us a path. Warm runs go over the list STAT_PASSES times in
# one process so that the process start does not swamp the measurement.
STAT_PASSES=10
stat_list() {
	if [ "$PHASE" = warm ]; then
		for _ in $(seq 1 "$STAT_PASSES"); do cat "$1"; done | xargs stat -c %s
	else
		xargs -a "$1" stat -c %s
	fi
}
cat_list() { xargs -a "$1.$2" cat; }        # LIST CHUNK
ls_chunk() { xargs -a "$1.$2" ls -lR; }     # LIST CHUNK
cat_one() { cat "$1"; }

mode_all() {
	[ -d "$STORE" ] && [ -d "$REF/charms" ] && [ -f "$IMG" ] || die "run setup.sh first"
	declare -gA MNTS=([charmfs]=$MNT_CF [pt]=$MNT_PT [sq]=$MNT_SQ)
	start_fs charmfs "$MNT_CF"
	start_fs pt "$MNT_PT"
	start_fs sq "$MNT_SQ"

	# Paths, identical under the three mount points.
	local lists=$OUT/lists
	mkdir -p "$lists"
	(cd "$REF" && for d in charms/trusty/c*; do echo "$d/1/metadata.yaml"; done) >"$lists/stat"
	(cd "$REF" && for d in charms/trusty/c*; do
		for r in $(seq 0 $((NREVS - 1))); do
			printf '%s\n' "$d/$r/metadata.yaml" "$d/$r/config.yaml" "$d/$r/files/hooks/install"
		done
		echo "$d/0/files/README.md"
	done | head -n 10000) >"$lists/small"
	(cd "$REF" && ls -d charms/trusty/c*) >"$lists/ls"
	local c
	for f in small ls; do
		local per=$(( ($(wc -l <"$lists/$f") + CHUNKS - 1) / CHUNKS ))
		for c in $(seq 0 $((CHUNKS - 1))); do
			sed -n "$((c * per + 1)),$(((c + 1) * per))p" "$lists/$f" >"$lists/$f.$c"
		done
	done
	local nstat nsmall big bigsz blob blobsz
	nstat=$(wc -l <"$lists/stat")
	nsmall=$(wc -l <"$lists/small")
	big=charms/bionic/big/0/archive.charm
	blob=charms/bionic/big/0/files/data/blob.bin
	bigsz=$(stat -c %s "$REF/$big")
	blobsz=$(stat -c %s "$REF/$blob")
	local smallsz
	smallsz=$(cd "$REF" && xargs -a "$lists/small" cat | wc -c)
	log "paths: $nstat for stat, $nsmall small files ($smallsz bytes), archive $bigsz bytes"

	if want stat; then
		log "stat of $nstat paths"
		bench_cw "stat x$nstat" 1 stat_list "$lists/stat"
	fi
	if want ls; then
		log "ls -lR charms/trusty, in $CHUNKS chunks"
		bench_cw "ls -lR charms/trusty" "$CHUNKS" ls_chunk "$lists/ls"
	fi
	if want big; then
		log "cat 100 MiB archive"
		bench_cw "cat archive.charm" 1 cat_one "$big"
		bench_cw "cat files/data/blob.bin" 1 cat_one "$blob"
	fi
	if want small; then
		log "cat $nsmall small files, in $CHUNKS chunks"
		bench_cw "cat x$nsmall small" "$CHUNKS" cat_list "$lists/small"
	fi

	# Publish: one cp of 1,000 distinct 20 KiB archives into publish/xenial/
	# vs the same files into a directory of the passthrough mount.
	local rep salt pub
	want publish || PUB_REPS=0
	for rep in $(seq 1 "$PUB_REPS"); do
		salt=run$(date +%s%N)
		pub=$OUT/pub
		rm -rf "$pub"
		python3 "$BENCH/gencharms.py" set "$pub" 1000 --prefix p --salt "$salt" --pad 19580
		log "publish rep $rep: 1000 x $(stat -c %s "$pub/p00000.charm") bytes"
		drop_caches
		add_sample "cp 1000x20KiB" charmfs \
			"$(time_ns "$pub" sh -c 'cp -- *.charm "$0"' "$MNT_CF/publish/xenial")"
		rm -rf "$MNT_PT/pubtest"; mkdir "$MNT_PT/pubtest"
		drop_caches
		add_sample "cp 1000x20KiB" pt \
			"$(time_ns "$pub" sh -c 'cp -- *.charm "$0"' "$MNT_PT/pubtest")"
		rm -rf "$MNT_PT/pubtest"
		mkdir "$MNT_PT/pubtest"
		drop_caches
		add_sample "cp 1000x20KiB +sync" pt \
			"$(time_ns "$pub" sh -c 'cp -- *.charm "$0" && sync -f "$0"' "$MNT_PT/pubtest")"
		rm -rf "$MNT_PT/pubtest"
	done
	local n
	n=$(ls "$MNT_CF/charms/xenial" 2>/dev/null | wc -l)
	! want publish || [ "$n" -ge 1000 ] || log "warning: charms/xenial holds $n charms, expected at least 1000"

	local cf_rss cf_hwm pt_rss pt_hwm sq_rss sq_hwm
	read -r cf_rss cf_hwm < <(rss_of "${PID[$MNT_CF]}")
	read -r pt_rss pt_hwm < <(rss_of "${PID[$MNT_PT]}")
	read -r sq_rss sq_hwm < <(rss_of "${PID[$MNT_SQ]}")

	report "$nstat" "$nsmall" "$smallsz" "$bigsz" "$blobsz"
	printf '\ndaemon memory at the end (VmRSS / VmHWM, MiB): charmfs %.1f / %.1f, passthrough_ll %.1f / %.1f, squashfuse %.1f / %.1f\n' \
		"$(bc -l <<<"$cf_rss/1024")" "$(bc -l <<<"$cf_hwm/1024")" \
		"$(bc -l <<<"$pt_rss/1024")" "$(bc -l <<<"$pt_hwm/1024")" \
		"$(bc -l <<<"$sq_rss/1024")" "$(bc -l <<<"$sq_hwm/1024")"
}

# fmt_time NS: human-readable.
fmt_time() {
	awk -v ns="$1" 'BEGIN{ if (ns=="nan"||ns=="") {print "-"; exit}
		if (ns >= 1e9) printf "%.2f s", ns/1e9; else if (ns >= 1e6) printf "%.1f ms", ns/1e6;
		else printf "%.1f us", ns/1e3 }'
}

med_of() { printf '%s' "${RES[$1|$2]:-}" | { grep . || true; } | median; }

# row METRIC [PER] [BYTES]: PER = divide into a per-item time, BYTES = add MB/s.
row() {
	local metric=$1 per=${2:-1} bytes=${3:-0} fs v cf pt sq r1 r2 col
	[ -n "${RES[$metric|charmfs]:-}" ] || return 0  # not measured (ONLY)
	cf=$(med_of "$metric" charmfs); pt=$(med_of "$metric" pt); sq=$(med_of "$metric" sq)
	local cells=()
	for v in "$cf" "$pt" "$sq"; do
		if [ -z "$v" ] || [ "$v" = nan ]; then
			cells+=("-")
		elif [ "$bytes" -gt 0 ]; then
			cells+=("$(awk -v ns="$v" -v b="$bytes" 'BEGIN{printf "%.0f MB/s (%.0f ms)", b/ns*1000, ns/1e6}')")
		elif [ "$per" -gt 1 ]; then
			cells+=("$(fmt_time "$v") ($(fmt_time $((v / per)))/each)")
		else
			cells+=("$(fmt_time "$v")")
		fi
	done
	ratio() { [ -n "$1" ] && [ "$1" != nan ] && [ -n "$2" ] && [ "$2" != nan ] && awk -v c="$1" -v r="$2" 'BEGIN{printf "%.2f", r/c}' || echo "-"; }
	r1=$(ratio "$cf" "$pt"); r2=$(ratio "$cf" "$sq")
	printf '| %s | %s | %s | %s | %s | %s |\n' "$metric" "${cells[0]}" "${cells[1]}" "${cells[2]}" "$r1" "$r2"
}

report() {
	local nstat=$1 nsmall=$2 smallsz=$3 bigsz=$4 blobsz=$5
	{
	echo
	echo "charmfs benchmark, $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "charmfs: $CHARMFS ${CF_OPTS:+-o $CF_OPTS}; passthrough_ll -o source=REF${PT_OPTS:+,$PT_OPTS} (libfuse $(pkg-config --modversion fuse3)); squashfuse $(dpkg-query -W -f '${Version}' squashfuse 2>/dev/null)"
	echo "data: $NCHARMS charms x $NREVS revisions; medians of $COLD_REPS cold runs (caches dropped before each), $((COLD_REPS * WARM_REPS)) warm runs, $PUB_REPS publish runs"
	echo "warm stat: the $nstat paths $STAT_PASSES times over in one process (time per path in brackets)"
	echo "ls -lR and the small-file cat run in $CHUNKS chunks (caches dropped before each cold chunk; times summed), see bench_cw"
	echo "ratio = reference time / charmfs time (= charmfs MB/s / reference MB/s): > 1 means charmfs is faster"
	echo
	echo "| measurement | charmfs | passthrough_ll | squashfuse | ratio vs passthrough_ll | ratio vs squashfuse |"
	echo "|---|---|---|---|---|---|"
	row "stat x$nstat (cold)" "$nstat"
	row "stat x$nstat (warm)" "$((nstat * STAT_PASSES))"
	row "ls -lR charms/trusty (cold)"
	row "ls -lR charms/trusty (warm)"
	row "cat archive.charm (cold)" 1 "$bigsz"
	row "cat archive.charm (warm)" 1 "$bigsz"
	row "cat files/data/blob.bin (cold)" 1 "$blobsz"
	row "cat files/data/blob.bin (warm)" 1 "$blobsz"
	row "cat x$nsmall small (cold)" "$nsmall"
	row "cat x$nsmall small (warm)" "$nsmall"
	local cf pt pts
	want publish || return 0
	cf=$(med_of "cp 1000x20KiB" charmfs); pt=$(med_of "cp 1000x20KiB" pt); pts=$(med_of "cp 1000x20KiB +sync" pt)
	printf '| cp 1000x20KiB into publish/ vs plain dir | %s (%s/each) | %s (%s/each); with sync: %s | - | %s (with sync: %s) | - |\n' \
		"$(fmt_time "$cf")" "$(fmt_time $((cf / 1000)))" "$(fmt_time "$pt")" "$(fmt_time $((pt / 1000)))" "$(fmt_time "$pts")" \
		"$(awk -v c="$cf" -v r="$pt" 'BEGIN{printf "%.2f", r/c}')" "$(awk -v c="$cf" -v r="$pts" 'BEGIN{printf "%.2f", r/c}')"
	} | tee -a "$OUT/results.md"
}

mode_rss() {
	local store=$OUT/rss-store gen=$GEN/rss mnt=$OUT/mnt/rss t n
	if [ ! -d "$gen" ] || [ "$(ls "$gen" | wc -l)" -ne "$RSS_CHARMS" ]; then
		rm -rf "$gen"
		log "generating $RSS_CHARMS charms"
		python3 "$BENCH/gencharms.py" set "$gen" "$RSS_CHARMS" --prefix r --salt rss
	fi
	rm -rf "$store"
	STORE=$store start_fs charmfs "$mnt"
	local pid=${PID[$mnt]}
	read -r rss0 hwm0 < <(rss_of "$pid")
	t=$(now_ns)
	publish_dir "$gen" "$mnt/publish/trusty" 2
	local pub_ms=$(( ($(now_ns) - t) / 1000000 ))
	n=$(ls "$mnt/charms/trusty" | wc -l)
	read -r rss1 hwm1 < <(rss_of "$pid")
	t=$(now_ns)
	ls -lR "$mnt/charms" >/dev/null
	local ls_ms=$(( ($(now_ns) - t) / 1000000 ))
	read -r rss2 hwm2 < <(rss_of "$pid")
	t=$(now_ns)
	find "$mnt/charms/trusty" -name metadata.yaml -print0 | xargs -0 cat >/dev/null
	find "$mnt/charms/trusty" -maxdepth 3 -name info -print0 | xargs -0 cat >/dev/null
	local cat_ms=$(( ($(now_ns) - t) / 1000000 ))
	read -r rss3 hwm3 < <(rss_of "$pid")
	drop_caches
	sleep 1
	read -r rss4 hwm4 < <(rss_of "$pid")
	{
	echo
	echo "charmfs RSS benchmark, $(date -u +%FT%TZ), $(nproc) CPUs, $CHARMFS"
	echo "$n charms stored (1 revision each); published with cp -P2 in $pub_ms ms ($(( pub_ms * 1000 / RSS_CHARMS )) us/charm)"
	echo
	echo "| state | VmRSS MiB | VmHWM MiB |"
	echo "|---|---|---|"
	awk -v r="$rss0" -v h="$hwm0" 'BEGIN{printf "| empty store, mounted | %.1f | %.1f |\n", r/1024, h/1024}'
	awk -v r="$rss1" -v h="$hwm1" 'BEGIN{printf "| after publishing all | %.1f | %.1f |\n", r/1024, h/1024}'
	awk -v r="$rss2" -v h="$hwm2" -v t="$ls_ms" 'BEGIN{printf "| after ls -lR charms/ (%d ms) | %.1f | %.1f |\n", t, r/1024, h/1024}'
	awk -v r="$rss3" -v h="$hwm3" -v t="$cat_ms" 'BEGIN{printf "| after cat of every metadata.yaml and info (%d ms) | %.1f | %.1f |\n", t, r/1024, h/1024}'
	awk -v r="$rss4" -v h="$hwm4" 'BEGIN{printf "| after drop_caches (kernel forgets inodes) | %.1f | %.1f |\n", r/1024, h/1024}'
	echo "target: < 64 MiB"
	} | tee -a "$OUT/results.md"
	stop_fs "$mnt"
	rm -rf "$store"
}

case $MODE in
all) mode_all ;;
rss) mode_rss ;;
*) die "usage: run.sh [all|rss|upgrade]" ;;
esac
