#!/usr/bin/env bash
# TEST ONLY. Makes this example's small test CA and the two certificates it issues, with OpenSSL:
# the platform's (capflow signs its requests with it) and Cedar Bank's (the mock funder signs its
# answers and notifications with it). Run it again to make new ones; the tests use what is here.
set -euo pipefail
cd "$(dirname "$0")"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 9000 \
  -keyout test-ca.key -out test-ca.crt \
  -subj "/C=CN/O=Cedar Test CA/CN=Cedar Test Root" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
issue() { # issue NAME SERIAL SUBJECT
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" -out "$1.csr" -subj "$3"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n' > "$1.ext"
  openssl x509 -req -sha256 -days 9000 -in "$1.csr" -CA test-ca.crt -CAkey test-ca.key \
    -set_serial "$2" -extfile "$1.ext" -out "$1.crt"
  rm "$1.csr" "$1.ext"
}
issue platform 4097 "/C=CN/O=Capflow Demo Platform/CN=platform.capflow.example"
issue bank 8193 "/C=CN/O=Cedar Bank/CN=h2h.cedarbank.example"
# The CA's key is not needed after issuing; keep it out of the example.
rm test-ca.key
