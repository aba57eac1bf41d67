#!/usr/bin/env bash
# Makes throwaway certificates for the TLS tests in directory $1 (P-256 keys, valid one day):
#   ca.pem/ca.key          the CA the server trusts for client certificates and clients trust
#   server.pem/server.key  signed by ca, for 127.0.0.1, ::1 and localhost
#   client.pem/client.key  signed by ca
#   rogue-ca.pem, rogue.pem/rogue.key  a client certificate from a CA nobody trusts
set -euo pipefail
out=$1
mkdir -p "$out"
cd "$out"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 1 -subj "/CN=$2" 2>/dev/null
}
leaf() {  # leaf NAME CA CN EXTENSIONS
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3" 2>/dev/null
  printf '%s\n' "$4" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    -days 1 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca "eaos test CA"
ca rogue-ca "rogue CA"
leaf server ca localhost $'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth'
leaf client ca "eaos test client" 'extendedKeyUsage=clientAuth'
leaf rogue rogue-ca "rogue client" 'extendedKeyUsage=clientAuth'
