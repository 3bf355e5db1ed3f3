#!/usr/bin/env bash
# TLS end to end with a CA made here by the openssl CLI: nas-controller serves
# with --tls_cert/--tls_key (signed by the CA, for 127.0.0.1 and localhost),
# nasctl and nas-worker connect with --ca_cert and run a 4-trial table job to
# the end. Refused: a plaintext client, a client trusting another CA, a
# server whose certificate (from the right CA) names another host, and a TLS
# client without a token.
source tests/security/lib.sh

cd_pki() {
  mkdir -p "$WORK/pki" && cd "$WORK/pki"
}
(
  cd_pki
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=nas test CA" \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=nas-controller" \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 2 -extfile ext.cnf -out server.pem 2>/dev/null
  # A certificate of the right CA for another host name only.
  openssl req -newkey rsa:2048 -nodes -subj "/CN=elsewhere" \
    -keyout other.key -out other.csr 2>/dev/null
  printf 'subjectAltName=DNS:elsewhere.invalid\nextendedKeyUsage=serverAuth\n' >other.cnf
  openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 2 -extfile other.cnf -out other.pem 2>/dev/null
  # Another CA, which never signed the controller's certificate.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rogue CA" \
    -keyout rogue.key -out rogue.pem 2>/dev/null
) || fail "openssl could not make the test PKI"
PKI=$WORK/pki
openssl verify -CAfile "$PKI/ca.pem" "$PKI/server.pem" >/dev/null || fail "server cert does not verify"

printf 'adm1n admin\nw0rk worker\n' >"$WORK/tokens"
echo adm1n >"$WORK/admin.token"
echo w0rk >"$WORK/worker.token"
start_controller --store="sqlite://$WORK/tls.db" --auth_token_file="$WORK/tokens" \
  --tls_cert="$PKI/server.pem" --tls_key="$PKI/server.key"
ADDR=127.0.0.1:$CONTROLLER_PORT

NASCTL_TLS=(--controller="$ADDR" --ca_cert="$PKI/ca.pem" --token_file="$WORK/admin.token")
run_table_job tls-job 4 "${NASCTL_TLS[@]}" -- \
  --controller="$ADDR" --ca_cert="$PKI/ca.pem" --auth_token_file="$WORK/worker.token"
"$NASCTL" "${NASCTL_TLS[@]}" status "$JOB" | tee "$WORK/status" >&2
grep -q "succeeded" "$WORK/status" || fail "status does not say succeeded"
echo "ok: job $JOB ran to the end over TLS (nasctl and nas-worker with --ca_cert)"

# The same controller refuses what TLS must refuse (nasctl exits non-zero).
refused() {  # refused WHAT ARGS...
  local what=$1
  shift
  if timeout 30 "$NASCTL" --token_file="$WORK/admin.token" "$@" jobs >"$WORK/refused.out" 2>&1; then
    cat "$WORK/refused.out" >&2
    fail "$what was accepted"
  fi
  echo "ok: $what refused: $(tail -1 "$WORK/refused.out")"
}
refused "a plaintext client" --controller="$ADDR"
refused "a client trusting another CA" --controller="$ADDR" --ca_cert="$PKI/rogue.pem"
# A controller whose certificate (right CA) names another host.
start_controller --store="sqlite://$WORK/other.db" \
  --tls_cert="$PKI/other.pem" --tls_key="$PKI/other.key"
refused "a certificate for another host name" \
  --controller="127.0.0.1:$CONTROLLER_PORT" --ca_cert="$PKI/ca.pem"
# Right CA, no token: TLS does not replace authentication.
if timeout 30 "$NASCTL" --controller="$ADDR" --ca_cert="$PKI/ca.pem" jobs >"$WORK/notoken.out" 2>&1; then
  fail "a TLS client without a token was accepted"
fi
grep -qi "unauthenticated\|token" "$WORK/notoken.out" || { cat "$WORK/notoken.out" >&2; fail "no-token refusal does not say why"; }
echo "ok: TLS client without a token refused: $(tail -1 "$WORK/notoken.out")"
echo PASS
