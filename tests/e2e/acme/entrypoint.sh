#!/bin/sh
# Pebble with its DNS beside it: every name resolves to KIT_VDS_IPV4.
set -eu
: "${KIT_VDS_IPV4:?set KIT_VDS_IPV4, the address Pebble validates HTTP-01 against}"
pebble-challtestsrv -defaultIPv4 "$KIT_VDS_IPV4" -defaultIPv6 "" -dns01 127.0.0.1:8053 \
  -http01 "" -https01 "" -tlsalpn01 "" -doh "" -management 127.0.0.1:8055 &
exec pebble -config /etc/pebble/pebble-config.json -dnsserver 127.0.0.1:8053
