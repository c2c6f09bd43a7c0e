"""The API behaviour of the stand-in server that tests compare with the product (docs/dev/upstream-facts.md):
error bodies, request validation, captcha, sign-in and its tokens. No HTTP here; server_app.py calls it."""
import base64
import hashlib
import hmac
import json
import random
import secrets
import string
import time

import dff_common as C

# const.yaml respCodeMap (the HTTP status is the integer part)
RESP_CODES = {
    'EUserPassword': 400.12, 'EUserCaptcha': 400.13, 'EUserAuth': 401.14, 'EUserPrivilege': 401.15,
    'EUserDisabled': 401.16, 'EUserLocked': 401.17, 'EClientNotFound': 404.41, 'EClientBadRequest': 400.43,
    'ESys': 500.50,
}
NANOID_ALPHABET = string.ascii_letters + string.digits + '_-'
X_AUTH_TOKEN_VERSION = 3            # server/utils/auth.js X_AUTH_TOEKN_VERSION (5.x)
UNDEFINED = object()                # a JavaScript undefined (absent key)


class ApiError(Exception):
    """server/utils/serverError.js: toJSON() = ok, error, reason, message, detail, status."""

    def __init__(self, reason, message, detail=None):
        super().__init__(message)
        self.reason, self.message, self.detail = reason, message, detail
        self.error = RESP_CODES[reason]
        self.status = int(self.error)

    def set_detail(self, **kw):
        self.detail = dict(self.detail or {}, **kw)

    def body(self, method, url, req_body=None):
        """The JSON of server/app.js handleError for an API request: toJSON() + reqDump (the request body echoed,
        passwords included, cut at 1000 characters)."""
        out = {'ok': self.status < 400, 'error': self.error, 'reason': self.reason, 'message': self.message,
               'detail': self.detail, 'status': self.status, 'reqDump': {'method': method, 'url': url}}
        if req_body:
            dump = json.dumps(req_body, indent=2, ensure_ascii=False)
            if len(dump) > 1000:
                dump = dump[:997] + '...\n<Length: %d>' % len(dump)
            out['reqDump']['bodyDump'] = dump
        return out


# ---------------------------------------------------------------------------------------------- validation
def _js(value):
    return json.dumps(value, ensure_ascii=False, separators=(',', ':'))


class _Invalid(Exception):
    pass


def _type_ok(value, wanted):
    wanted = str(wanted).lower()
    if wanted in ('str', 'string', 'commaarray'):
        return isinstance(value, str)
    if wanted in ('json', 'obj', 'object'):
        return value is None or isinstance(value, dict)
    if wanted in ('arr', 'array'):
        return isinstance(value, list)
    if wanted in ('bool', 'boolean'):
        return isinstance(value, bool)
    if wanted in ('num', 'number', 'float'):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


DIRECTIVES = {
    '$type': _type_ok,
    '$maxLength': lambda v, n: isinstance(v, (str, list)) and len(v) <= n,
    '$minLength': lambda v, n: isinstance(v, (str, list)) and len(v) >= n,
    '$isLength': lambda v, n: isinstance(v, (str, list)) and len(v) == n,
    '$in': lambda v, opts: v in opts,
}
NO_OPS = ('$desc', '$name', '$example', '$isRequired', '$isOptional', '$allowNull')


def _verify(obj, spec, name, skip_type):
    """object-checker (server/utils/requestValidator.js, defaultRequired false): the first problem raises."""
    if obj is UNDEFINED and not spec.get('$isRequired'):
        return
    if obj is None and spec.get('$allowNull') is True:
        return
    if obj is UNDEFINED:
        raise _Invalid('Field `%s` is missing.' % name)
    if isinstance(obj, (dict, list)) and str(spec.get('$type')).lower() not in ('json', 'obj', 'object'):
        for k in (obj if isinstance(obj, dict) else range(len(obj))):
            if str(k) not in spec and not ('$' in spec and isinstance(obj, list)):
                raise _Invalid('Found unexpected field `%s`' % k)
    keys = sorted(spec, key=lambda k: 0 if k == '$type' else 1)
    for k in keys:
        option = spec[k]
        if k in DIRECTIVES:
            if k == '$type' and skip_type:
                continue
            if not DIRECTIVES[k](obj, option):
                raise _Invalid('Field `%s` value `%s` is not valid. (%s = %s)' % (name, _js(obj), k[1:], _js(option)))
        elif k in NO_OPS or k.startswith('$'):
            continue
        else:
            child = obj.get(k, UNDEFINED) if isinstance(obj, dict) else UNDEFINED
            _verify(child, option, k, skip_type)


def validate(obj, spec, what):
    """None or the EClientBadRequest the product answers ('Invalid request body' / 'Invalid request query')."""
    try:
        # the query checker registers $type as a custom no-op directive, the body checker does not
        _verify(obj, spec, 'obj', skip_type=(what == 'query'))
    except _Invalid as e:
        return ApiError('EClientBadRequest', 'Invalid request %s' % what, {'message': str(e)})
    return None


# server/route.yaml
SIGN_IN_BODY = {
    'captchaToken': {'$isRequired': True, '$type': 'string'},
    'captcha': {'$isRequired': True, '$type': 'string', '$isLength': 4},
    'signIn': {
        'username': {'$isRequired': True, '$type': 'string', '$maxLength': 30},
        'password': {'$isRequired': True, '$type': 'string', '$maxLength': 100},
    },
}
CAPTCHA_QUERY = {
    'captchaCategory': {'$isRequired': True, '$type': 'enum', '$in': ['signIn', 'changePassword']},
    'captchaToken': {'$isRequired': True, '$type': 'string', '$maxLength': 128},
    'xDFFAuthToken': {'$isRequired': False, '$type': 'string'},
}


# ---------------------------------------------------------------------------------------------- captcha
def captcha_key(cfg, category, token):
    return C.key(cfg, 'server', 'captcha', category, 'captchaToken', token)


def get_captcha(cfg, r, query):
    """GET /api/v1/captcha/do/get (server/utils/captcha.js): the code goes to Redis (SETEX _WEB_CAPTCHA_EXPIRES)
    under a token of the client's choosing; a token still stored is refused. Returns the SVG."""
    err = validate(query, CAPTCHA_QUERY, 'query')
    if err:
        raise err
    category, token = query['captchaCategory'], query['captchaToken']
    if not token.strip():
        raise ApiError('EClientBadRequest', 'Invalid captcha token',
                       {'captchaCategory': category, 'captchaToken': token})
    k = captcha_key(cfg, category, token)
    if r.get(k):
        raise ApiError('EUserCaptcha', 'This captcha token is already used',
                       {'captchaCategory': category, 'captchaToken': token})
    if cfg.get('MODE') == 'prod':
        code = ''.join(random.SystemRandom().choice(string.digits) for _x in range(4))
    else:
        code = token[-4:]
    r.setex(k, int(cfg['_WEB_CAPTCHA_EXPIRES']), code)
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30" viewBox="0,0,120,30">'
            '<text x="10" y="24" font-size="24">%s</text></svg>' % ' '.join('?' * len(code)))


def verify_captcha(cfg, r, body, category):
    """captcha.js createVerifyCaptchaHandler: skipped in MODE dev; the stored code is deleted on every check."""
    if cfg.get('MODE') == 'dev':
        return
    token, given = body.get('captchaToken'), body.get('captcha')
    detail = {'captchaCategory': category, 'captchaToken': token}
    if not isinstance(token, str) or not token.strip():
        raise ApiError('EUserCaptcha', 'Invalid captcha token', detail)
    k = captcha_key(cfg, category, token)
    stored = r.get(k)
    if not stored:
        raise ApiError('EUserCaptcha', 'Can not found captcha token', detail)
    r.delete(k)
    if not isinstance(given, str) or not given.strip():
        raise ApiError('EUserCaptcha', 'Please input captcha', detail)
    if given.lower() != stored.lower():
        raise ApiError('EUserCaptcha', 'Invalid captcha', detail)


# ---------------------------------------------------------------------------------------------- tokens
def _b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b'=').decode()


def _b64u_decode(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


def sign_jwt(payload, secret):
    head = _b64u(_js({'alg': 'HS256', 'typ': 'JWT'}).encode())
    body = _b64u(_js(payload).encode('utf-8'))
    sig = hmac.new(str(secret).encode('utf-8'), ('%s.%s' % (head, body)).encode(), hashlib.sha256).digest()
    return '%s.%s.%s' % (head, body, _b64u(sig))


def verify_jwt(token, secret):
    try:
        head, body, sig = token.split('.')
        want = hmac.new(str(secret).encode('utf-8'), ('%s.%s' % (head, body)).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, _b64u_decode(sig)):
            return None
        return json.loads(_b64u_decode(body))
    except (ValueError, TypeError):
        return None


def token_store(cfg, obj):
    """(key, hash field or None) of a sign-in token in Redis. 5.x: one hash DataFluxFunc-server#token@xAuthToken,
    field userId:<uid>:xAuthTokenId:<xatid>, value {"ts": <sign-in time>}; 3.x: a string key per token with
    tags xAuthTokenId, userId, SETEX _WEB_AUTH_EXPIRES (server/utils/auth.js)."""
    if C.LEGACY_TOKENS:
        return C.key(cfg, 'server', 'token', 'xAuthToken', 'xAuthTokenId', obj['xatid'], 'userId', obj['uid']), None
    return C.key(cfg, 'server', 'token', 'xAuthToken'), 'userId:%s:xAuthTokenId:%s' % (obj['uid'], obj['xatid'])


def new_token(cfg, r, user):
    now = int(time.time())
    xatid = 'xat-' + ''.join(secrets.choice(NANOID_ALPHABET) for _x in range(21))
    if C.LEGACY_TOKENS:
        obj = {'xatid': xatid, 'uid': user['id']}
    else:
        obj = {'v': X_AUTH_TOKEN_VERSION, 'xatid': xatid, 'uid': user['id'], 'un': user['username'],
               'nm': user['name'], 'em': user['email']}
    obj['iat'] = now
    k, field = token_store(cfg, obj)
    if field is None:
        r.setex(k, int(cfg['_WEB_AUTH_EXPIRES']), 'x')
    else:
        r.hset(k, field, _js({'ts': now}))
    return sign_jwt(obj, cfg['SECRET'])


def token_valid(cfg, r, token):
    obj = verify_jwt(token, cfg['SECRET'])
    if not obj or 'xatid' not in obj or 'uid' not in obj:
        return False
    k, field = token_store(cfg, obj)
    if field is None:
        return bool(r.exists(k))
    raw = r.hget(k, field)
    try:
        ts = json.loads(raw).get('ts') if raw else None
    except ValueError:
        ts = None
    return bool(ts) and ts + int(cfg['_WEB_AUTH_EXPIRES']) > time.time()


# ---------------------------------------------------------------------------------------------- sign-in
def sign_in(cfg, r, body, find_user):
    """POST /api/v1/auth/do/sign-in: validation, captcha, then server/controllers/authAPICtrl.js signIn.
    find_user(username) -> dict(id, username, passwordHash, name, email, isDisabled) or None."""
    err = validate(body, SIGN_IN_BODY, 'body')
    if err:
        raise err
    verify_captcha(cfg, r, body, 'signIn')
    username, password = body['signIn']['username'], body['signIn']['password']
    count_key = C.key(cfg, 'server', 'cache', 'badSignInCount', 'username', username)
    wait_key = C.key(cfg, 'server', 'cache', 'signInWait', 'username', username)
    try:
        wait = r.ttl(wait_key)
        if wait > 0:
            raise ApiError('EUserLocked', 'User has been temporarily locked', {'signInWaitTimeout': wait})
        user = find_user(username)
        if not user:
            raise ApiError('EUserPassword', 'Invalid username or password')
        given = C.salted_password_hash(user['id'], password, cfg['SECRET'])
        stored = user['passwordHash']
        if user['id'] == 'u-admin' and stored is None:      # a cleared admin password equals the username
            stored = C.salted_password_hash(user['id'], user['username'], cfg['SECRET'])
        if user['id'] != 'u-admin' and user['isDisabled']:
            raise ApiError('EUserDisabled', 'Current user has been disabled')
        if stored != given:
            raise ApiError('EUserPassword', 'Invalid username or password')
        token = new_token(cfg, r, user)
        r.delete(count_key)
        return {'userId': user['id'], 'xAuthToken': token}
    except ApiError as e:
        if e.reason == 'EUserPassword':
            count = r.incr(count_key)
            limit = int(cfg['BAD_SINGIN_TEMPORARILY_LOCK_COUNT'])
            wait = 0
            if count >= limit:
                wait = min(int(cfg['BAD_SINGIN_TEMPORARILY_LOCK_MAX_WAIT']), 2 ** (count - limit) * 60)
            # upstream's RedisHelper.setex turns 0 into 1: every wrong password locks the username for a second
            # (the answer still says signInWaitTimeout 0)
            r.setex(wait_key, max(1, wait), 'x')
        else:
            wait = max(0, r.ttl(wait_key))
        e.set_detail(signInWaitTimeout=wait)
        raise
