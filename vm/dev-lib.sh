#!/usr/bin/env bash
# Shared shell helpers for the dev VM scripts (setup.sh, vm/dev-image.sh, vm/dev-guest.sh).
# Source it after vm/lib.sh; it defines functions only.
# shellcheck disable=SC2034  # the variables set here are read by the scripts that source this file

# Settings of the dev VM, each overridable from the environment. Sets the DEVVM_* variables.
# Argument: the repository's top-level folder.
devvm_config() {
	local root=$1
	DEVVM_ROOT=$root
	# Generated state of one VM: overlay disk, seed ISO, pid file, serial log, ssh settings.
	DEVVM_STATE=${DEVVM_STATE:-$root/vm-state}
	# Base images built by vm/dev-image.sh; reused until the recipe changes. They live in the user's
	# cache, not in the clone: a fresh clone (as CI makes) reuses the image instead of spending minutes.
	DEVVM_CACHE=${DEVVM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ivshmem-bench/devvm}
	# The seed's interface: `ssh -i temp_id_rsa -p 2222 debian@localhost`.
	DEVVM_KEY=${DEVVM_KEY:-$root/temp_id_rsa}
	DEVVM_PORT=${DEVVM_PORT:-2222}
	# The region file and size of run_test.sh's runs (the header of defaults, through ivb_default).
	DEVVM_SHM=${DEVVM_SHM:-$(ivb_default SHM_PATH_DEFAULT)}
	DEVVM_SHM_SIZE=${DEVVM_SHM_SIZE:-$(ivb_default RUN_SHM_SIZE_DEFAULT)}
	DEVVM_MEM=${DEVVM_MEM:-2G}
	DEVVM_SMP=${DEVVM_SMP:-2}
	DEVVM_DISK_SIZE=${DEVVM_DISK_SIZE:-20G}
	# Limits of the boot waits, in seconds (TCG needs the long ones; ~50 s to SSH on 2 idle cores).
	DEVVM_BOOT_TIMEOUT=${DEVVM_BOOT_TIMEOUT:-900}
	DEVVM_SSH_TIMEOUT=${DEVVM_SSH_TIMEOUT:-120}
	DEVVM_STOP_TIMEOUT=${DEVVM_STOP_TIMEOUT:-120}
	# An official Debian cloud image in the working folder is used instead of building one.
	DEVVM_CLOUD_IMAGE=$root/debian-12-generic-amd64.qcow2
	DEVVM_PIDFILE=$DEVVM_STATE/qemu.pid
	DEVVM_SERIAL_LOG=$DEVVM_STATE/serial.log
	DEVVM_ENV_FILE=$DEVVM_STATE/vm.env
	# Doorbell mode: our ivshmem server, which QEMU's ivshmem-doorbell and host_writer join.
	DEVVM_SERVER=${DEVVM_SERVER:-$root/build/ivshmem_server}
	DEVVM_SERVER_PIDFILE=$DEVVM_STATE/ivshmem_server.pid
	DEVVM_SERVER_LOG=$DEVVM_STATE/ivshmem_server.log
	# The line the guest prints on its serial console when cloud-init has finished (user-data final_message).
	DEVVM_READY_MARKER="ivb-devvm: cloud-init finished"
	local name
	for name in DEVVM_PORT DEVVM_SMP DEVVM_BOOT_TIMEOUT DEVVM_SSH_TIMEOUT DEVVM_STOP_TIMEOUT; do
		[[ ${!name} =~ ^[1-9][0-9]*$ ]] || ivb_die "$name must be a positive integer, not '${!name}'"
	done
	[ "$DEVVM_PORT" -le 65535 ] || ivb_die "DEVVM_PORT must be at most 65535, not '$DEVVM_PORT'"
}

# Print the pid in PIDFILE and return 0 if that process runs PROGRAM with PIDFILE on its command line;
# return 1 otherwise. A pid file alone is not trusted: its pid may belong to another process by now.
devvm_pid_from() {
	local pidfile=$1 program=$2 pid cmdline
	[ -r "$pidfile" ] || return 1
	read -r pid <"$pidfile" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case "$cmdline" in
	*"$program"*"$pidfile"*) echo "$pid" ;;
	*) return 1 ;;
	esac
}

# The dev VM's QEMU, and (doorbell mode) its ivshmem server: their pids when they run (devvm_pid_from).
devvm_running_pid() { devvm_pid_from "$DEVVM_PIDFILE" qemu-system-x86_64; }
devvm_server_pid() { devvm_pid_from "$DEVVM_SERVER_PIDFILE" ivshmem_server; }

# The ssh options for the dev VM: its host keys change with every new instance, and it listens on
# 127.0.0.1 only, so they are neither checked nor remembered.
devvm_ssh_opts() {
	DEVVM_SSH_OPTS=(-i "$DEVVM_KEY" -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10
		-o ServerAliveInterval=10 -o ServerAliveCountMax=6)
}

# Run a command in the dev VM as user debian. Arguments: the remote command line.
devvm_ssh() {
	devvm_ssh_opts
	ssh "${DEVVM_SSH_OPTS[@]}" -p "$DEVVM_PORT" debian@127.0.0.1 "$@"
}

# Say whether something listens on 127.0.0.1:PORT (or on every address). Returns 0 when busy.
devvm_port_busy() {
	local port=$1
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]
	else
		timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
	fi
}

# Wait until a line matching PATTERN (grep -E) appears in FILE, reading it from the start.
# Arguments: FILE PATTERN TIMEOUT_SECONDS PID. Gives up when PID exits.
# Returns 0 when the line appeared, 1 when PID exited first, 2 on timeout.
devvm_wait_for_line() {
	local file=$1 pattern=$2 limit=$3 pid=$4 fd tail_pid rc=0
	# tail follows the file until the writer (PID) exits or the limit kills it; grep stops at the first match.
	exec {fd}< <(exec timeout "$limit" tail -n +1 -F --pid="$pid" "$file" 2>/dev/null)
	tail_pid=$!
	grep -E -m1 -q -- "$pattern" <&"$fd" || rc=1
	kill "$tail_pid" 2>/dev/null || true
	exec {fd}<&-
	[ "$rc" -eq 0 ] && return 0
	kill -0 "$pid" 2>/dev/null && return 2
	return 1
}

# Write the deb822 apt sources for a Debian bookworm image on stdout, taken from apt sources files:
# the stanzas of *.sources files and the one-line `deb` entries of the others, keeping only bookworm
# suites (third-party repositories would need keyrings the image does not have).
# Arguments: the apt sources files to read; those that do not exist are skipped. Returns 1 when no bookworm entry is found.
devvm_apt_sources() {
	local f chunk out=""
	for f in "$@"; do
		[ -f "$f" ] || continue
		case "$f" in
		*.sources) chunk=$(devvm_deb822_filter <"$f") ;;
		*) chunk=$(devvm_oneline_to_deb822 <"$f") ;;
		esac
		[ -z "$chunk" ] || out+="$chunk"$'\n\n'
	done
	[ -n "$out" ] || return 1
	printf '%s' "$out"
}

# Whether file systems are still mounted under DIR (a root build stopped half-way); says so on stderr. Such a
# folder must not be removed: rm would follow into the mounts. Returns: 0 when something is mounted there, else 1.
devvm_mounted_under() {
	grep -q " $1/" /proc/mounts 2>/dev/null || return 1
	ivb_log "warning: file systems are still mounted under $1; leaving it for you to unmount and remove"
}

# devvm_apt_sources of this machine's own apt configuration (/etc/apt/sources.list and sources.list.d/).
devvm_host_apt_sources() {
	devvm_apt_sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}

# Keep the deb822 stanzas on stdin that are enabled, of type deb, and have a bookworm suite.
devvm_deb822_filter() {
	awk 'BEGIN { RS = ""; ORS = "\n\n" }
	{
		types = ""; suites = ""; enabled = "yes"
		n = split($0, line, "\n")
		for (i = 1; i <= n; i++) {
			if (line[i] ~ /^[Tt]ypes:/) types = line[i]
			if (line[i] ~ /^[Ss]uites:/) suites = line[i]
			if (line[i] ~ /^[Ee]nabled:[ \t]*[Nn]o/) enabled = "no"
		}
		sub(/^[^:]*:/, "", types); sub(/^[^:]*:/, "", suites)
		if (enabled == "no" || (" " types " ") !~ /[ \t]deb[ \t]/) next
		ns = split(suites, s, /[ \t]+/)
		keep = 0
		for (i = 1; i <= ns; i++) if (s[i] ~ /^bookworm(-[a-z]+)?$/) keep = 1
		if (keep) print
	}'
}

# Turn the one-line `deb [options] URI SUITE COMPONENT...` entries on stdin into deb822 stanzas,
# keeping only bookworm suites. Options such as signed-by=... and arch=... become fields.
devvm_oneline_to_deb822() {
	awk '
	/^[ \t]*deb[ \t]/ {
		sub(/#.*/, "")
		opts = ""
		if (match($0, /\[[^]]*\]/)) {
			opts = substr($0, RSTART + 1, RLENGTH - 2)
			$0 = substr($0, 1, RSTART - 1) substr($0, RSTART + RLENGTH)
		}
		if (NF < 3 || $3 !~ /^bookworm(-[a-z]+)?$/) next
		printf "Types: deb\nURIs: %s\nSuites: %s\n", $2, $3
		if (NF > 3) {
			printf "Components:"
			for (i = 4; i <= NF; i++) printf " %s", $i
			printf "\n"
		}
		no = split(opts, o, /[ \t]+/)
		for (i = 1; i <= no; i++) {
			if (o[i] == "" || index(o[i], "=") == 0) continue
			key = substr(o[i], 1, index(o[i], "=") - 1); val = substr(o[i], index(o[i], "=") + 1)
			if (key == "signed-by") key = "Signed-By"
			else if (key == "arch") key = "Architectures"
			else if (key == "trusted") key = "Trusted"
			else continue
			gsub(/,/, " ", val)
			printf "%s: %s\n", key, val
		}
		printf "\n"
	}'
}

# Where vm/dev-image.sh puts the base image it builds, and the kernel and initrd it boots with.
# The recipe's hash is in the name, so a changed recipe builds a new image and never reuses a stale one.
# Sets DEVVM_BASE, DEVVM_KERNEL, DEVVM_INITRD and DEVVM_BASE_INFO.
devvm_built_image_paths() {
	local recipe
	recipe=$(sha256sum "$DEVVM_ROOT/vm/dev-image.sh" | cut -c1-12)
	DEVVM_BASE=$DEVVM_CACHE/ivb-debian-12-$recipe.qcow2
	DEVVM_KERNEL=$DEVVM_CACHE/ivb-debian-12-$recipe.vmlinuz
	DEVVM_INITRD=$DEVVM_CACHE/ivb-debian-12-$recipe.initrd
	DEVVM_BASE_INFO=$DEVVM_CACHE/ivb-debian-12-$recipe.info
}

# Base images of older recipes take ~1 GB each: keep BASE (the current one) and the newest other one (a
# clone of an older commit may still want it), and delete the rest unless a process (a QEMU using it as
# its base) has it open. Not in vm/dev-image.sh: its text is the recipe, and a change there means a rebuild.
devvm_prune_images() {
	local base=$1 image stem kept=0
	while IFS= read -r image; do
		[ "$image" != "$base" ] || continue
		kept=$((kept + 1))
		[ "$kept" -gt 1 ] || continue
		# (find fails on the fd folders of processes that end meanwhile: its output is what counts.)
		if [ -n "$(find /proc/[0-9]*/fd -lname "$image" -print -quit 2>/dev/null)" ]; then
			ivb_log "keeping the old base image $image: a process has it open"
			continue
		fi
		stem=${image%.qcow2}
		rm -f -- "$image" "$stem.vmlinuz" "$stem.initrd" "$stem.info"
		ivb_log "removed the old base image $image"
	done < <(ls -t -- "$DEVVM_CACHE"/ivb-debian-12-*.qcow2 2>/dev/null)
}

# Read the settings the running VM was started with (port, key, shared-memory file, accelerator),
# written by setup.sh into the state folder; they override the environment's.
devvm_load_env() {
	DEVVM_ACCEL=unknown
	DEVVM_MODE=polling
	DEVVM_SOCKET=
	[ -r "$DEVVM_ENV_FILE" ] || return 0
	# shellcheck source=/dev/null
	. "$DEVVM_ENV_FILE"
}
