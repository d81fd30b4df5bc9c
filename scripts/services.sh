# Local services for the test suite, started in private temporary directories on loopback.
# Sourced by scripts/test. Each start_* function exports the variable the tests read, or, when the
# service cannot be had, fails under CI=true and warns otherwise (the tests then skip, saying so).

HOPE_SERVICE_DIRS=()
HOPE_SERVICE_STOPS=()

stop_services() {
  local i
  for ((i = ${#HOPE_SERVICE_STOPS[@]} - 1; i >= 0; i--)); do eval "${HOPE_SERVICE_STOPS[$i]}" || true; done
  for d in "${HOPE_SERVICE_DIRS[@]}"; do rm -rf "$d"; done
}

service_missing() {
  if [ "${CI:-}" = "true" ]; then
    echo "error: $1 (required under CI=true)" >&2
    exit 1
  fi
  echo "warning: $1; the tests that need it will be skipped" >&2
}

free_port() {
  local p=$1
  while (echo > "/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

as_service_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_postgres() {
  [ -n "${HOPE_TEST_POSTGRES_URL:-}" ] && return 0
  local bin
  bin=$(pg_bin)
  if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing PostgreSQL (apt-get install postgresql)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null) || true
    bin=$(pg_bin)
  fi
  if [ -z "$bin" ]; then service_missing "PostgreSQL is not installed"; return 0; fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then service_missing "no postgres user to run PostgreSQL as"; return 0; fi
  local d port
  d=$(mktemp -d /tmp/hope-pg-XXXXXX)
  HOPE_SERVICE_DIRS+=("$d")
  [ "$(id -u)" = 0 ] && chown postgres "$d"
  port=$(free_port 54329)
  if ! as_service_user "$bin/initdb" -N -D "$d/data" -U hope --auth=trust -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1; then
    cat "$d/initdb.log" >&2; service_missing "initdb failed"; return 0
  fi
  # TLS too (plain connections stay allowed): a throwaway CA and a certificate for 127.0.0.1 and
  # localhost, for the tests of verified TLS to PostgreSQL (HOPE_TEST_POSTGRES_TLS_CA).
  local tls_opts=""
  if command -v openssl >/dev/null; then
    mkdir -p "$d/tls"
    if (cd "$d/tls" \
        && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
             -subj "/CN=hope test PostgreSQL CA" -keyout ca.key -out ca.pem \
             -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
             -keyout server.key -out server.csr \
        && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf \
        && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
             -extfile ext.cnf -out server.pem) >"$d/tls.log" 2>&1; then
      [ "$(id -u)" = 0 ] && chown -R postgres "$d/tls"
      chmod 600 "$d/tls/server.key"
      tls_opts="-c ssl=on -c ssl_cert_file=$d/tls/server.pem -c ssl_key_file=$d/tls/server.key"
      export HOPE_TEST_POSTGRES_TLS_CA="$d/tls/ca.pem"
    else
      cat "$d/tls.log" >&2; echo "warning: no TLS for the test PostgreSQL" >&2
    fi
  fi
  if ! as_service_user "$bin/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $d -c fsync=off -c max_connections=200 $tls_opts" start >/dev/null; then
    cat "$d/pg.log" >&2; service_missing "PostgreSQL did not start"; return 0
  fi
  HOPE_SERVICE_STOPS+=("as_service_user '$bin/pg_ctl' -D '$d/data' -m fast -w stop >/dev/null")
  export HOPE_TEST_POSTGRES_URL="postgresql://hope@127.0.0.1:$port/postgres"
  echo "PostgreSQL for the tests: $HOPE_TEST_POSTGRES_URL" >&2
}

# Build tools for optional C/C++ codecs (CharLS for JPEG-LS needs cmake), and Tesseract for the
# OCR of screens (hope-dicom's `ocr` feature runs it as a program). Sets HOPE_FEATURES to the cargo
# feature flags the test run can build: every feature when cmake is present, else all but
# hope-dicom/jpegls (failing under CI=true instead).
# A PKCS#11 module with throwaway tokens for the smart-card tests: SoftHSM2 (Debian softhsm2),
# installed with apt-get when missing and running as root, its token store in a temporary folder.
# Exports SOFTHSM2_CONF (read by the module) and HOPE_TEST_PKCS11_MODULE (the module's path); the
# tests initialise their own tokens in it.
start_softhsm() {
  [ -n "${HOPE_TEST_PKCS11_MODULE:-}" ] && return 0
  local module=/usr/lib/softhsm/libsofthsm2.so
  if [ ! -f "$module" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing SoftHSM2 (apt-get install softhsm2)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null) || true
  fi
  if [ ! -f "$module" ]; then service_missing "SoftHSM2 is not installed ($module)"; return 0; fi
  local d
  d=$(mktemp -d /tmp/hope-softhsm-XXXXXX)
  HOPE_SERVICE_DIRS+=("$d")
  mkdir -p "$d/tokens"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$d" > "$d/softhsm2.conf"
  export SOFTHSM2_CONF="$d/softhsm2.conf"
  export HOPE_TEST_PKCS11_MODULE="$module"
  echo "SoftHSM2 for the tests: $HOPE_TEST_PKCS11_MODULE, tokens in $d/tokens" >&2
}

ensure_build_tools() {
  if ! command -v cmake >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing cmake (apt-get install cmake) for the JPEG-LS codec" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake >/dev/null) || true
  fi
  if ! command -v tesseract >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Tesseract (apt-get install tesseract-ocr tesseract-ocr-eng) for OCR of screens" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng >/dev/null) || true
  fi
  if ! command -v tesseract >/dev/null; then
    if [ "${CI:-}" = "true" ]; then echo "error: tesseract is missing (required under CI=true)" >&2; exit 1; fi
    echo "warning: tesseract is missing; the OCR tests will be skipped" >&2
  fi
  if ! command -v dcm2niix >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing dcm2niix (apt-get install dcm2niix), the reference for tilted CT series" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dcm2niix >/dev/null) || true
  fi
  if ! command -v dcm2niix >/dev/null; then
    if [ "${CI:-}" = "true" ]; then echo "error: dcm2niix is missing (required under CI=true)" >&2; exit 1; fi
    echo "warning: dcm2niix is missing; the comparison of tilted series with it will be skipped" >&2
  fi
  if ! command -v dcmdump >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing DCMTK (apt-get install dcmtk): dcmdump reads the workflow's RT files in CI" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dcmtk >/dev/null) || true
  fi
  if ! command -v dcmdump >/dev/null; then
    if [ "${CI:-}" = "true" ]; then echo "error: dcmdump (DCMTK) is missing (required under CI=true)" >&2; exit 1; fi
    echo "warning: dcmdump (DCMTK) is missing; the RT files are read by pydicom only" >&2
  fi
  if command -v cmake >/dev/null; then
    HOPE_FEATURES="--all-features"
  else
    if [ "${CI:-}" = "true" ]; then echo "error: cmake is missing (required under CI=true)" >&2; exit 1; fi
    echo "warning: cmake is missing; building without hope-dicom/jpegls" >&2
    HOPE_FEATURES="--features hope-rs-core/serde,hope-dicom/jpeg2000,hope-dicom/ocr,hope-catalog/server,hope-catalog/client"
  fi
  export HOPE_FEATURES
}

# A single-node Slurm (slurmctld, slurmd, munged) on loopback, all state in a private directory
# (recipe: ../shared/reference/services.md). Installs slurm-wlm and munge with apt-get when missing
# and running as root. Exports SLURM_CONF for the Slurm commands and HOPE_TEST_SLURM=1.
start_slurm() {
  [ -n "${HOPE_TEST_SLURM:-}" ] && return 0
  if ! command -v slurmctld >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Slurm (apt-get install slurm-wlm munge)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null) || true
  fi
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then service_missing "Slurm is not installed"; return 0; fi
  if [ "$(id -u)" != 0 ]; then service_missing "the test Slurm runs as root"; return 0; fi
  local d port
  d=$(mktemp -d /tmp/hope-slurm-XXXXXX)
  HOPE_SERVICE_DIRS+=("$d")
  mkdir -p "$d"/{munge,state,spool,log}
  chmod 700 "$d/munge"
  port=$(free_port 16817)
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  cat > "$d/slurm.conf" <<CONF
ClusterName=hopetest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/log/jobcomp.txt
MinJobAge=300
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=8 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$d/slurm.conf"
  munged -F --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" \
    >"$d/log/munged.out" 2>&1 &
  HOPE_SERVICE_STOPS+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  local i
  for i in $(seq 100); do [ -S "$d/munge/munge.socket" ] && break; sleep 0.1; done
  slurmctld -D -f "$SLURM_CONF" >"$d/log/slurmctld.out" 2>&1 &
  HOPE_SERVICE_STOPS+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  slurmd -D -f "$SLURM_CONF" -N localhost >"$d/log/slurmd.out" 2>&1 &
  HOPE_SERVICE_STOPS+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  for i in $(seq 150); do sinfo -h -N -o %T 2>/dev/null | grep -qx idle && break; sleep 0.2; done
  if ! sinfo -h -N -o %T 2>/dev/null | grep -qx idle; then
    tail -n 20 "$d"/log/*.log >&2 || true
    service_missing "Slurm did not come up"
    return 0
  fi
  export HOPE_TEST_SLURM=1
  echo "Slurm for the tests: SLURM_CONF=$SLURM_CONF" >&2
}

# An Orthanc PACS (Debian's orthanc and orthanc-dicomweb) on loopback, all state in a private directory,
# installed with apt-get when missing and running as root. DICOM with the called AE title checked and no
# unknown calling AE titles let in (so the tests see real association rejections). DICOMweb over HTTPS
# through nginx in front of Orthanc's plain-HTTP port, as hospitals deploy it (Debian's Orthanc 1.10
# crashes on its own HTTPS, civetweb with OpenSSL 3), with a CA and server certificate made here by openssl.
# Modalities known to it: HOPESCU (the tests' client, every DIMSE service) and HOPESCP (a C-MOVE
# destination on a port the tests listen on). Exports HOPE_TEST_ORTHANC_DICOM (host:port),
# HOPE_TEST_ORTHANC_AET, HOPE_TEST_ORTHANC_MOVE_PORT, HOPE_TEST_ORTHANC_URL (the DICOMweb root over
# HTTPS) and HOPE_TEST_ORTHANC_CA (the CA certificate to trust).
start_orthanc() {
  [ -n "${HOPE_TEST_ORTHANC_DICOM:-}" ] && return 0
  local plugin=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
  if { ! command -v Orthanc >/dev/null || [ ! -e $plugin ] || ! command -v nginx >/dev/null; } \
      && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Orthanc and nginx (apt-get install orthanc orthanc-dicomweb nginx-light)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      orthanc orthanc-dicomweb nginx-light openssl >/dev/null) || true
  fi
  if ! command -v Orthanc >/dev/null || [ ! -e $plugin ]; then service_missing "Orthanc (with its DICOMweb plugin) is not installed"; return 0; fi
  if ! command -v nginx >/dev/null || ! command -v openssl >/dev/null; then service_missing "nginx or openssl is missing (HTTPS in front of Orthanc)"; return 0; fi
  local d dport hport sport mport
  d=$(mktemp -d /tmp/hope-orthanc-XXXXXX)
  HOPE_SERVICE_DIRS+=("$d")
  mkdir -p "$d"/{storage,index,nginx}
  dport=$(free_port 14242)
  mport=$(free_port $((dport + 1)))
  hport=$(free_port 18042)
  sport=$(free_port $((hport + 1)))
  # A throwaway CA and the server certificate it issues (webpki refuses a CA as end entity).
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=HOPE test PACS CA" -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/key.pem" -out "$d/server.csr" >/dev/null 2>&1
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/server.ext" -out "$d/cert.pem" >/dev/null 2>&1
  cat > "$d/orthanc.json" <<CONF
{
  "Name": "HOPE-TEST-PACS",
  "StorageDirectory": "$d/storage",
  "IndexDirectory": "$d/index",
  "StorageCompression": false,
  "HttpServerEnabled": true,
  "HttpPort": $hport,
  "HttpCompressionEnabled": false,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": true,
  "DicomAet": "HOPEPACS",
  "DicomPort": $dport,
  "DicomCheckCalledAet": true,
  "DicomAlwaysAllowEcho": false,
  "DicomAlwaysAllowStore": false,
  "DicomAlwaysAllowFind": false,
  "DicomAlwaysAllowFindWorklist": false,
  "DicomAlwaysAllowGet": false,
  "DicomAlwaysAllowMove": false,
  "DicomCheckModalityHost": false,
  "DicomScpTimeout": 30,
  "UnknownSopClassAccepted": true,
  "OverwriteInstances": true,
  "DicomModalities": {
    "hopescu": { "AET": "HOPESCU", "Host": "127.0.0.1", "Port": $mport },
    "hopescp": { "AET": "HOPESCP", "Host": "127.0.0.1", "Port": $mport }
  },
  "Plugins": ["$plugin"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/", "EnableWado": false,
                "Host": "127.0.0.1:$sport", "Ssl": true }
}
CONF
  cat > "$d/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $d/nginx/body;
  proxy_temp_path $d/nginx/proxy;
  fastcgi_temp_path $d/nginx/fastcgi;
  uwsgi_temp_path $d/nginx/uwsgi;
  scgi_temp_path $d/nginx/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$sport ssl;
    ssl_certificate $d/cert.pem;
    ssl_certificate_key $d/key.pem;
    location / {
      proxy_pass http://127.0.0.1:$hport;
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
CONF
  Orthanc "$d/orthanc.json" >"$d/orthanc.log" 2>&1 &
  HOPE_SERVICE_STOPS+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  nginx -c "$d/nginx.conf" -p "$d/nginx" >"$d/nginx/out.log" 2>&1 &
  HOPE_SERVICE_STOPS+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  local i up=
  for i in $(seq 150); do
    if (echo > "/dev/tcp/127.0.0.1/$dport") 2>/dev/null && (echo > "/dev/tcp/127.0.0.1/$hport") 2>/dev/null \
        && (echo > "/dev/tcp/127.0.0.1/$sport") 2>/dev/null; then up=1; break; fi
    sleep 0.2
  done
  if [ -z "$up" ]; then
    tail -n 30 "$d/orthanc.log" "$d/nginx/error.log" "$d/nginx/out.log" >&2 || true
    service_missing "Orthanc or nginx did not come up"
    return 0
  fi
  export HOPE_TEST_ORTHANC_DICOM="127.0.0.1:$dport"
  export HOPE_TEST_ORTHANC_AET=HOPEPACS
  export HOPE_TEST_ORTHANC_MOVE_PORT=$mport
  export HOPE_TEST_ORTHANC_URL="https://127.0.0.1:$sport/dicom-web"
  export HOPE_TEST_ORTHANC_CA="$d/ca.pem"
  echo "Orthanc for the tests: DICOM $HOPE_TEST_ORTHANC_DICOM ($HOPE_TEST_ORTHANC_AET), DICOMweb $HOPE_TEST_ORTHANC_URL" >&2
}
