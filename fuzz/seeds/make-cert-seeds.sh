#!/usr/bin/env bash
# Regenerates the seeds of the `csr` and `pem_der_loaders` targets with openssl: CSRs
# (PEM and DER, EC, Ed25519, RSA, with alternative names), a CA certificate, a leaf, and
# PKCS#8 keys. The fuzzer mutates these into the malformed inputs.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
csr() { # name, key options..., then the subject
  local name=$1; shift
  local subject=${*: -1}
  openssl req -new -nodes "${@:1:$#-1}" -keyout "$work/$name.key" -subj "$subject" \
    -addext "subjectAltName=DNS:$name.example.test,IP:10.0.0.1" -out "csr/$name.pem" 2>/dev/null
  openssl req -in "csr/$name.pem" -outform DER -out "csr/$name.der"
}
csr ec -newkey ec -pkeyopt ec_paramgen_curve:P-256 "/O=dev/CN=alice"
csr ed25519 -newkey ed25519 "/CN=bob"
csr rsa -newkey rsa:2048 "/O=system:nodes/CN=system:node:n1"
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout pem_der_loaders/ca.key \
  -subj "/CN=seed CA" -days 1 -addext basicConstraints=critical,CA:TRUE -out pem_der_loaders/ca.pem 2>/dev/null
openssl x509 -in pem_der_loaders/ca.pem -outform DER -out pem_der_loaders/ca.der
openssl req -x509 -new -nodes -newkey ed25519 -keyout pem_der_loaders/leaf.key -subj "/O=dev/CN=carol" -days 1 \
  -addext extendedKeyUsage=clientAuth -out pem_der_loaders/leaf.pem 2>/dev/null
cat pem_der_loaders/leaf.pem pem_der_loaders/ca.pem > pem_der_loaders/chain.pem
