#!/usr/bin/env bash
# Test Hub on loopback: git http-backend behind lighttpd with basic auth,
# plus git daemon (git://, receive-pack enabled). Bare repos live in
# DIR/repos. The token is read from a file, never passed on a command line.
#
#   hub_server.sh start DIR TOKEN_FILE   -> prints "HTTP_PORT GIT_PORT"
#   hub_server.sh stop DIR
set -euo pipefail
cmd=$1 dir=$2

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
pick_port() {
	local p
	for _ in $(seq 1 50); do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		port_free "$p" && { echo "$p"; return 0; }
	done
	return 1
}

case $cmd in
start)
	token_file=$3
	backend=$(git --exec-path)/git-http-backend
	mkdir -p "$dir/repos" "$dir/www"
	printf 'arca:%s\n' "$(openssl passwd -6 -stdin < "$token_file")" > "$dir/htpasswd"
	http=$(pick_port)
	cat > "$dir/lighttpd.conf" <<CONF
server.document-root = "$dir/www"
server.bind = "127.0.0.1"
server.port = $http
server.errorlog = "$dir/lighttpd-error.log"
server.modules = ( "mod_auth", "mod_authn_file", "mod_alias", "mod_cgi", "mod_setenv" )
alias.url = ( "/git" => "$backend" )
\$HTTP["url"] =~ "^/git" {
	cgi.assign = ( "" => "" )
	setenv.add-environment = ( "GIT_PROJECT_ROOT" => "$dir/repos", "GIT_HTTP_EXPORT_ALL" => "" )
}
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "$dir/htpasswd"
auth.require = ( "/git" => ( "method" => "basic", "realm" => "hub", "require" => "valid-user" ) )
CONF
	lighttpd -D -f "$dir/lighttpd.conf" > "$dir/lighttpd.out" 2>&1 &
	echo $! > "$dir/lighttpd.pid"
	wait_port "$http" || { cat "$dir/lighttpd.out" "$dir/lighttpd-error.log" >&2 2>/dev/null; exit 1; }
	gitp=$(pick_port)
	git daemon --reuseaddr --listen=127.0.0.1 --port="$gitp" --base-path="$dir/repos" \
		--export-all --enable=receive-pack "$dir/repos" > "$dir/git-daemon.out" 2>&1 &
	echo $! > "$dir/git-daemon.pid"
	wait_port "$gitp" || { cat "$dir/git-daemon.out" >&2; exit 1; }
	echo "$http $gitp"
	;;
stop)
	for p in lighttpd git-daemon; do
		[ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
	done
	;;
esac
