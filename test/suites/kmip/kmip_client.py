#!/usr/bin/python3
"""PyKMIP client for the kmip suite: makes the keys the suite fetches.

    kmip_client.py HOST PORT CERT KEY CA create ALGORITHM BITS
        create and activate a symmetric key; prints its unique identifier
    kmip_client.py HOST PORT CERT KEY CA secret
        register a Secret Data object (not a key); prints its identifier
    kmip_client.py HOST PORT CERT KEY CA sha256 UID
        Get the key and print the SHA-256 of its bytes
    kmip_client.py HOST PORT CERT KEY CA kekid UID
        Get the key and print its kek id: the first 4 bytes of the SHA-256
        of the RFC 5649 wrapping of 32 zero bytes under it, in hex
    kmip_client.py HOST PORT CERT KEY CA hex UID
        Get the key and print it in hex, for the suite's searches of logs
        (test keys only)
"""
import hashlib
import os
import sys
import tempfile

from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from kmip import enums
from kmip.pie import client, objects


def main():
    host, port, cert, key, ca, cmd = sys.argv[1:7]
    rest = sys.argv[7:]
    # an empty configuration of our own, so that no /etc/pykmip is read
    fd, conf = tempfile.mkstemp(suffix=".conf")
    os.write(fd, b"[client]\n")
    os.close(fd)
    c = client.ProxyKmipClient(hostname=host, port=int(port), cert=cert,
                               key=key, ca=ca,
                               ssl_version="PROTOCOL_TLSv1_2",
                               config_file=conf,
                               kmip_version=enums.KMIPVersion.KMIP_1_2)
    with c:
        if cmd == "create":
            alg = getattr(enums.CryptographicAlgorithm, rest[0])
            uid = c.create(alg, int(rest[1]))
            c.activate(uid)
            print(uid)
        elif cmd == "secret":
            obj = objects.SecretData(b"not a key, just 32 bytes of data",
                                     enums.SecretDataType.PASSWORD)
            uid = c.register(obj)
            print(uid)
        elif cmd == "sha256":
            obj = c.get(rest[0])
            print(hashlib.sha256(obj.value).hexdigest())
        elif cmd == "kekid":
            obj = c.get(rest[0])
            wrapped = aes_key_wrap_with_padding(obj.value, bytes(32))
            print(hashlib.sha256(wrapped).hexdigest()[:8])
        elif cmd == "hex":
            print(c.get(rest[0]).value.hex())
        else:
            sys.exit("unknown command " + cmd)
    os.unlink(conf)


if __name__ == "__main__":
    main()
