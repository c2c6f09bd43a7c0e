# -*- coding: utf-8 -*-
"""Pure logic of _func_redis: the RESP2 encoder/reader of the direct transport and the parser of redis-cli's
--no-raw output used by the container transport. The transports themselves run against real Redis in
tests/integration (test_func_queue.py, test_func_admin.py)."""
import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_redis as r


def _reader(data, chunk):
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]

    def recv(_n):
        return parts.pop(0) if parts else b''
    return r.RespReader(recv)


def test_encode_command_binary_safe():
    assert r.encode_command(['SET', 'k\r\n', b'\x00\xff', 5]) == (
        b'*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n\x00\xff\r\n$1\r\n5\r\n')


REPLIES = (b'+OK\r\n-WRONGTYPE Operation against a key\r\n:42\r\n$-1\r\n*-1\r\n*0\r\n'
           b'$7\r\na\r\nb\xf0\x9f\x98\r\n'
           b'*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$0\r\n\r\n+QUEUED\r\n')


@pytest.mark.parametrize('chunk', [1, 2, 5, 1000])
def test_resp_reader_every_reply_type_across_chunk_boundaries(chunk):
    reader = _reader(REPLIES, chunk)
    got = [reader.read() for _i in range(8)]
    assert got[0] == 'OK'
    assert isinstance(got[1], r.RedisReplyError) and got[1].code == 'WRONGTYPE'
    assert got[2:6] == [42, None, None, []]
    assert got[6] == 'a\r\nb\xf0\x9f\x98'.encode('latin-1').decode('utf-8', 'surrogateescape')
    assert got[7] == [1, ['x', ''], 'QUEUED']
    with pytest.raises(ConnectionError):
        reader.read()


def test_resp_reader_rejects_garbage():
    with pytest.raises(ValueError):
        _reader(b'?what\r\n', 100).read()


@pytest.mark.parametrize('value', ['plain', 'with "quotes" and \\ backslash', '多字节 😀', 'a\nb\r\tc\x00\x07',
                                   bytes(range(256)).decode('latin-1')])
def test_cli_quote_unquote_round_trip(value):
    quoted = r.cli_quote(value)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert all(0x20 <= ord(c) <= 0x7e for c in quoted)       # one printable token, nothing for a shell to split
    assert r.cli_unquote(quoted).encode('utf-8', 'surrogateescape') == value.encode('utf-8')


def test_parse_cli_scalars():
    assert r.parse_cli_reply(['OK']) == 'OK'
    assert r.parse_cli_reply(['(integer) -3']) == -3
    assert r.parse_cli_reply(['(nil)']) is None
    assert r.parse_cli_reply(['(empty array)']) == []
    assert r.parse_cli_reply(['"a\\x00\\"b"']) == 'a\x00"b'
    err = r.parse_cli_reply(['(error) NOAUTH Authentication required.'])
    assert isinstance(err, r.RedisReplyError) and err.code == 'NOAUTH'
    with pytest.raises(ValueError):
        r.parse_cli_reply([])
    with pytest.raises(ValueError):
        r.parse_cli_reply(['OK', 'extra'])


def test_parse_cli_nested_and_wide_arrays():
    # redis-cli right-aligns the indexes when an array has 10 or more items; nested arrays are indented
    lines = [' 1) "a"'] + [' %d) (integer) %d' % (i, i) for i in range(2, 10)] + [
        '10) 1) "x"', '    2) (nil)', '    3) 1) "deep"', '       2) (integer) 7', '11) (empty array)']
    got = r.parse_cli_reply(lines)
    assert got[0] == 'a' and got[1:9] == list(range(2, 10))
    assert got[9] == ['x', None, ['deep', 7]]
    assert got[10] == []
    with pytest.raises(ValueError):
        r.parse_cli_reply(['1) "a"', '3) "skipped 2"'])
