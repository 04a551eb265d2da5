# Sourced by scripts/start, scripts/demo and .ci/run (after scripts/node24.sh):
#   load_dotenv             .env fills in what the environment does not set (see .env.example)
#   ensure_local_services   PostgreSQL and Redis of DATABASE_URL and REDIS_URL answer, or the script stops
#
# When PostgreSQL or Redis does not answer on this machine, it is started if it is
# installed (a Debian/Ubuntu PostgreSQL cluster with pg_ctlcluster, as root or
# through sudo without a password; Redis with redis-server --daemonize, its files
# under data/redis); when it is not installed, the one command that installs it is
# named; a PostgreSQL that refuses the URL's login (a fresh cluster wants a password)
# is explained. A server on another host is only checked. The service's defaults apply:
# postgresql://postgres@127.0.0.1:5432/pixbatch and redis://127.0.0.1:6379.

load_dotenv() {
  [ -f .env ] || return 0
  local exports
  # Node's own .env parser (the syntax .env.example documents); a variable already set wins.
  exports="$(
    node --input-type=module <<'JS'
const before = new Set(Object.keys(process.env));
process.loadEnvFile('.env');
const quoted = (value) => `'${value.replaceAll("'", "'\\''")}'`;
for (const [name, value] of Object.entries(process.env))
  if (!before.has(name)) console.log(`export ${name}=${quoted(value)}`);
JS
  )" || return 1
  eval "$exports"
}

# "host port" of a URL, the port defaulting to $2.
_url_endpoint() {
  node -e 'const url = new URL(process.argv[1]); console.log(url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", url.port || process.argv[2])' "$1" "$2"
}

_is_local() { case "$1" in 127.0.0.1 | localhost | ::1) return 0 ;; *) return 1 ;; esac; }

_tcp_answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

_postgres_answers() {
  if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -h "$1" -p "$2"; else _tcp_answers "$1" "$2"; fi
}

_redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h "$1" -p "$2" ping 2>/dev/null | grep -q PONG
  else
    _tcp_answers "$1" "$2"
  fi
}

# Runs a command as root: directly, or through sudo when it needs no password; else fails.
_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi
}

# The one command that installs what is missing, for this machine's package manager.
_install_command() {
  local apt=() brew=() dnf=()
  for server in "$@"; do
    case "$server" in
      PostgreSQL) apt+=(postgresql) brew+=(postgresql@17) dnf+=(postgresql-server) ;;
      Redis) apt+=(redis-server) brew+=(redis) dnf+=(redis) ;;
    esac
  done
  if command -v apt-get >/dev/null 2>&1; then
    echo "sudo apt-get install -y ${apt[*]}"
  elif command -v brew >/dev/null 2>&1; then
    echo "brew install ${brew[*]} && brew services start ${brew[*]}"
  elif command -v dnf >/dev/null 2>&1; then
    echo "sudo dnf install -y ${dnf[*]}"
  else
    echo "your package manager's PostgreSQL and Redis packages"
  fi
}

_wait_for() {
  local check=$1 host=$2 port=$3
  for _ in $(seq 1 30); do
    "$check" "$host" "$port" && return 0
    sleep 1
  done
  return 1
}

# Starts the stopped PostgreSQL cluster that listens on $1; fails when there is none or it cannot.
_start_postgres() {
  local port=$1 cluster
  command -v pg_lsclusters >/dev/null 2>&1 || return 1
  # "17 main 5432 down postgres …": the cluster configured for this port.
  cluster="$(pg_lsclusters --no-header 2>/dev/null | awk -v port="$port" '$3 == port { print $1, $2; exit }')"
  [ -n "$cluster" ] || return 1
  echo "PostgreSQL is installed but not running; starting cluster ${cluster/ //} (pg_ctlcluster)"
  # shellcheck disable=SC2086 # "version name", two words on purpose
  _as_root pg_ctlcluster --skip-systemctl-redirect $cluster start ||
    { echo "  could not start it as $(id -un); run: sudo pg_ctlcluster ${cluster} start" >&2 && return 1; }
}

_start_redis() {
  local port=$1
  command -v redis-server >/dev/null 2>&1 || return 1
  mkdir -p data/redis
  echo "Redis is installed but not running; starting redis-server on 127.0.0.1:$port (files in data/redis)"
  # noeviction and an append-only file, as BullMQ asks of a Redis that holds queues.
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --dir "$PWD/data/redis" \
    --logfile "$PWD/data/redis/redis.log" --appendonly yes --maxmemory-policy noeviction >/dev/null
}

_postgres_installed() {
  command -v pg_lsclusters >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1
}

# A PostgreSQL that answers may still refuse the URL's user: a fresh Debian or Ubuntu
# cluster wants a password over TCP, which the default URL has none of.
_postgres_login() {
  command -v psql >/dev/null 2>&1 || return 0
  local url error
  # The maintenance database: the service creates its own at start.
  url="$(node -e 'const url = new URL(process.argv[1]); url.pathname = "/postgres"; console.log(url.href)' "$1")"
  error="$(PGCONNECT_TIMEOUT=5 psql -w "$url" -Atc 'SELECT 1' 2>&1 >/dev/null </dev/null)" && return 0
  echo "PostgreSQL answers but refuses DATABASE_URL's login: ${error#psql: error: }" >&2
  case "$error" in
    *password* | *authentication*)
      echo "  Give the user a password and put it in DATABASE_URL (in .env, see .env.example), e.g.:" >&2
      echo "  sudo -u postgres psql -c \"ALTER USER postgres PASSWORD 'postgres'\"" >&2
      echo "  DATABASE_URL=postgresql://postgres:postgres@$2:$3/pixbatch" >&2
      ;;
  esac
  return 1
}

ensure_local_services() {
  local db db_host db_port redis redis_host redis_port missing=() failed=0
  read -r db_host db_port <<<"$(_url_endpoint "${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/pixbatch}" 5432)"
  read -r redis_host redis_port <<<"$(_url_endpoint "${REDIS_URL:-redis://127.0.0.1:6379}" 6379)"
  db="PostgreSQL on $db_host:$db_port"
  redis="Redis on $redis_host:$redis_port"

  if ! _postgres_answers "$db_host" "$db_port"; then
    if ! _is_local "$db_host"; then
      echo "$db does not answer (DATABASE_URL): start it, or point DATABASE_URL at one that runs" >&2
      failed=1
    elif ! _postgres_installed; then
      missing+=(PostgreSQL)
    elif ! { _start_postgres "$db_port" && _wait_for _postgres_answers "$db_host" "$db_port"; }; then
      echo "$db does not answer and could not be started here" >&2
      failed=1
    fi
  fi
  if ! _redis_answers "$redis_host" "$redis_port"; then
    if ! _is_local "$redis_host"; then
      echo "$redis does not answer (REDIS_URL): start it, or point REDIS_URL at one that runs" >&2
      failed=1
    elif ! command -v redis-server >/dev/null 2>&1; then
      missing+=(Redis)
    elif ! { _start_redis "$redis_port" && _wait_for _redis_answers "$redis_host" "$redis_port"; }; then
      echo "$redis does not answer and could not be started here (see data/redis/redis.log)" >&2
      failed=1
    fi
  fi
  if [ "$failed" -eq 0 ] && [[ ! " ${missing[*]} " =~ " PostgreSQL " ]]; then
    _postgres_login "${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/pixbatch}" "$db_host" "$db_port" || failed=1
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ ${#missing[@]} -eq 2 ]; then echo "PostgreSQL and Redis are not installed on this machine. Install them with:" >&2
    else echo "${missing[0]} is not installed on this machine. Install it with:" >&2; fi
    echo "  $(_install_command "${missing[@]}")" >&2
    echo "or run the whole stack in containers instead: README, \"Compose on a laptop\"." >&2
    failed=1
  fi
  [ "$failed" -eq 0 ] || return 1
  echo "PostgreSQL ($db_host:$db_port) and Redis ($redis_host:$redis_port) answer"
}
