"""Open pages of a built HTML site in headless Chromium (Debian's chromium + chromium-driver, driven by selenium) and
print what the browser rendered, as JSON, for tests/quality/test_docsite.py to judge.

    python docsite_browser.py SITE_DIR PAGE...      (PAGE relative to SITE_DIR, e.g. index.html)

The site is served over HTTP from SITE_DIR on 127.0.0.1 (a free port) for the time of the run. Per page: the
document title, the visible headings (h1-h4, permalink sign removed), the rendered text, every link (the resolved
href, the href as written, its class), every id (and a[name]) on the page, and the browser's console errors (a
missing stylesheet or script shows there). Runs with the .venv-publish interpreter (selenium lives there)."""
import functools
import http.server
import json
import os
import sys
import threading

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get('DFF_CHROMIUM', '/usr/bin/chromium')
CHROMEDRIVER = os.environ.get('DFF_CHROMEDRIVER', '/usr/bin/chromedriver')

COLLECT = r'''
const visible = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length)
    && getComputedStyle(e).visibility !== 'hidden';
return {
  title: document.title,
  headings: [...document.querySelectorAll('h1, h2, h3, h4')].filter(visible)
      .map(h => h.textContent.replace(/[\u00b6\uf0c1]/g, '').replace(/\s+/g, ' ').trim()),
  h1: [...document.querySelectorAll('h1')].filter(visible)
      .map(h => h.textContent.replace(/[\u00b6\uf0c1]/g, '').trim()),
  text: document.body ? document.body.innerText : '',
  links: [...document.querySelectorAll('a[href]')].map(a => ({href: a.href, raw: a.getAttribute('href'),
                                                              cls: a.className})),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id)
      .concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
};
'''


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main(site, pages):
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = 'http://127.0.0.1:%d/' % server.server_address[1]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--window-size=1280,1024'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    result = {'base': base, 'browser': driver.capabilities.get('browserVersion'), 'pages': {}}
    try:
        driver.set_page_load_timeout(30)
        for page in pages:
            driver.get(base + page)
            WebDriverWait(driver, 10).until(lambda d: d.execute_script('return document.readyState') == 'complete')
            facts = driver.execute_script(COLLECT)
            facts['url'] = driver.current_url
            facts['console_errors'] = [e['message'] for e in driver.get_log('browser') if e['level'] == 'SEVERE']
            result['pages'][page] = facts
    finally:
        driver.quit()
        server.shutdown()
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2:])
