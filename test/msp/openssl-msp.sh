#!/usr/bin/env bash
# Builds Fabric MSP folders with the OpenSSL command line only, the way people who use neither
# cryptogen nor Fabric CA make them (Fabric docs, "Membership Service Providers": MSP setup on
# the peer & orderer side). Used by test/msp/openssl.test.ts.
#
# Usage: openssl-msp.sh OUT_DIR
#
# OUT_DIR/
#   msp/              local MSP: signcert = peer leaf, keystore key in PKCS#8
#   msp-sec1/         the same, keystore key as SEC1 "EC PRIVATE KEY"
#   msp-admincerts/   the same plus admincerts/admin.pem
#   identities/       leaves to check against the MSP (client, peer, admin, revoked, rsa,
#                     clientauth-only, foreign) and the intermediate (ica.pem)
#   ca/               keys, openssl.cnf and the CA database (not part of any MSP)
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
ca="$out/ca"
ids="$out/identities"
mkdir -p "$ca/db" "$ids"
days=3650

cnf="$ca/openssl.cnf"
cat >"$cnf" <<EOF
# Minimal configuration: req needs a distinguished_name section; the CA database is only used
# to revoke a certificate and to issue the CRL (openssl ca -revoke / -gencrl).
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused

[v3_root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[v3_ica]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# Fabric verifies identity chains asking for serverAuth (Go x509 default): a chain certificate
# must have no extendedKeyUsage, or one that includes serverAuth (or anyExtendedKeyUsage).
[v3_leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_leaf_server]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_leaf_client_only]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ca]
default_ca = ica_ca
[ica_ca]
database = $ca/db/index.txt
crlnumber = $ca/db/crlnumber
certificate = $ca/ica.pem
private_key = $ca/ica.key
default_md = sha256
default_crl_days = $days
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
EOF
: >"$ca/db/index.txt"
echo 'unique_subject = no' >"$ca/db/index.txt.attr"
echo 1000 >"$ca/db/crlnumber"

# An ECDSA P-256 key as SEC1 (what ecparam writes) and as PKCS#8 beside it.
eckey() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.sec1.key"
  openssl pkcs8 -topk8 -nocrypt -in "$1.sec1.key" -out "$1.key"
}

selfsigned() { # name subject
  eckey "$ca/$1"
  openssl req -new -x509 -config "$cnf" -extensions v3_root -sha256 -days "$days" \
    -key "$ca/$1.key" -subj "$2" -out "$ca/$1.pem"
}

issue() { # csr-key issuer subject extensions out
  openssl req -new -config "$cnf" -key "$1" -subj "$3" -out "$5.csr"
  openssl x509 -req -sha256 -days "$days" -in "$5.csr" -CA "$ca/$2.pem" -CAkey "$ca/$2.key" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$cnf" -extensions "$4" -out "$5"
  rm -f "$5.csr"
}

leaf() { # name ou extensions
  eckey "$ca/$1"
  issue "$ca/$1.key" ica "/C=US/O=Coffer OpenSSL Org/OU=$2/CN=$1.openssl.example.com" "$3" "$ids/$1.pem"
}

org='/C=US/O=Coffer OpenSSL Org'
selfsigned root "$org/CN=ca.openssl.example.com"
eckey "$ca/ica"
issue "$ca/ica.key" root "$org/CN=ica.openssl.example.com" v3_ica "$ca/ica.pem"
cp "$ca/ica.pem" "$ids/ica.pem"

leaf client client v3_leaf
leaf peer peer v3_leaf_server
leaf admin admin v3_leaf
leaf revoked client v3_leaf
leaf clientauth-only client v3_leaf_client_only

# RSA keys are refused for MSP identities; the CA still signs the certificate with ECDSA.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$ca/rsa.key"
issue "$ca/rsa.key" ica "$org/OU=client/CN=rsa.openssl.example.com" v3_leaf "$ids/rsa.pem"

# A CA that is no part of the MSP, and a leaf of it with a NodeOU the MSP knows.
selfsigned foreign-root '/C=US/O=Somebody Else/CN=ca.else.example.com'
eckey "$ca/foreign"
issue "$ca/foreign.key" foreign-root '/C=US/O=Somebody Else/OU=client/CN=foreign.else.example.com' \
  v3_leaf "$ids/foreign.pem"

# TLS root CA, separate from the identity root.
selfsigned tlsroot "$org/CN=tlsca.openssl.example.com"

# CRL of the intermediate revoking one leaf (CRL v2, with AKI as Fabric requires).
openssl ca -config "$cnf" -revoke "$ids/revoked.pem" -crl_reason keyCompromise
openssl ca -config "$cnf" -gencrl -out "$ca/ica-crl.pem"

msp() { # dir keyfile
  local dir=$1
  mkdir -p "$dir"/{cacerts,intermediatecerts,signcerts,keystore,tlscacerts,crls}
  cp "$ca/root.pem" "$dir/cacerts/root.pem"
  cp "$ca/ica.pem" "$dir/intermediatecerts/ica.pem"
  cp "$ids/peer.pem" "$dir/signcerts/peer.pem"
  cp "$2" "$dir/keystore/priv_sk"
  cp "$ca/tlsroot.pem" "$dir/tlscacerts/tlsroot.pem"
  cp "$ca/ica-crl.pem" "$dir/crls/ica-crl.pem"
  cat >"$dir/config.yaml" <<'EOF'
NodeOUs:
  Enable: true
  ClientOUIdentifier:
    Certificate: intermediatecerts/ica.pem
    OrganizationalUnitIdentifier: client
  PeerOUIdentifier:
    Certificate: intermediatecerts/ica.pem
    OrganizationalUnitIdentifier: peer
  AdminOUIdentifier:
    Certificate: intermediatecerts/ica.pem
    OrganizationalUnitIdentifier: admin
  OrdererOUIdentifier:
    Certificate: intermediatecerts/ica.pem
    OrganizationalUnitIdentifier: orderer
EOF
}

msp "$out/msp" "$ca/peer.key"
msp "$out/msp-sec1" "$ca/peer.sec1.key"
msp "$out/msp-admincerts" "$ca/peer.key"
mkdir -p "$out/msp-admincerts/admincerts"
cp "$ids/admin.pem" "$out/msp-admincerts/admincerts/admin.pem"
