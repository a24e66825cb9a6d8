"""The rendered documentation in a real browser: `make site`, then headless Chromium over the DevTools protocol.

Opens the home page, a chapter, a report and the figure pages, from `python -m http.server`-style serving and from
file://; asserts headings render, every image loaded (naturalWidth > 0), internal links resolve and nothing is fetched
from outside the site. Screenshots go to tests/artifacts/docs/ (git-ignored). Chromium is Debian's `chromium`
(`.ci/run` installs it); without it the test is skipped, except under CI where it fails.
"""
import base64, functools, http.server, itertools, json, os, re, shutil, subprocess, threading, time
from pathlib import Path
from urllib.parse import urlparse, unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT/'tests'/'artifacts'/'docs'
MODEL = 'smollm2-135m-instruct'


def _chromium():
    exe = next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)
    if exe is None:
        if os.environ.get('CI'): pytest.fail('Chromium is missing: .ci/run installs Debian\'s `chromium` with apt-get')
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return exe


class CDP:
    "A minimal DevTools-protocol client over one browser websocket, flattened sessions (`websockets` sync client)."
    def __init__(self, exe, profile: Path):
        from websockets.sync.client import connect
        self.proc = subprocess.Popen(
            [exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
             '--no-default-browser-check', '--disable-extensions', '--disable-background-networking',
             '--remote-debugging-port=0', f'--user-data-dir={profile}', '--window-size=1280,1000',
             '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',     # offline: no name resolves but loopback
             'about:blank'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file, t0 = profile/'DevToolsActivePort', time.time()
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if self.proc.poll() is not None or time.time() - t0 > 60:
                raise RuntimeError(f'Chromium did not start (exit {self.proc.poll()})')
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        self._conn = connect(f'ws://127.0.0.1:{port}{path}', max_size=None, open_timeout=30)
        self.ws = self._conn.__enter__()
        self.ids, self.events = itertools.count(1), []
        target = self.send('Target.createTarget', url='about:blank')['targetId']
        self.session = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        self.send('Page.enable', session=True)
        self.send('Runtime.enable', session=True)
        self.send('Emulation.setDeviceMetricsOverride', session=True, width=1280, height=1000, deviceScaleFactor=1, mobile=False)

    def send(self, method, session=False, timeout=60, **params):
        i = next(self.ids)
        msg = dict(id=i, method=method, params=params)
        if session: msg['sessionId'] = self.session
        self.ws.send(json.dumps(msg))
        end = time.time() + timeout
        while True:
            m = json.loads(self.ws.recv(timeout=max(0.1, end - time.time())))
            if m.get('id') == i:
                if 'error' in m: raise RuntimeError(f'{method}: {m["error"]}')
                return m.get('result', {})
            self.events.append(m)

    def wait_event(self, method, timeout=60):
        end = time.time() + timeout
        while True:
            for k, m in enumerate(self.events):
                if m.get('method') == method: return self.events.pop(k)
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, end - time.time()))))

    def js(self, expr, timeout=60):
        r = self.send('Runtime.evaluate', session=True, timeout=timeout, expression=expr, awaitPromise=True, returnByValue=True)
        if 'exceptionDetails' in r: raise RuntimeError(f'page script failed: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def open(self, url):
        self.events.clear()
        self.send('Page.navigate', session=True, url=url)
        self.wait_event('Page.loadEventFired', timeout=90)

    def screenshot(self, path: Path):
        data = base64.b64decode(self.send('Page.captureScreenshot', session=True, format='png')['data'])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def close(self):
        try: self._conn.__exit__(None, None, None)
        finally:
            self.proc.terminate()
            try: self.proc.wait(10)
            except subprocess.TimeoutExpired: self.proc.kill()


PAGE_STATE = r"""(async () => {
  for (const i of document.images) i.loading = 'eager';
  window.scrollTo(0, document.body.scrollHeight); window.scrollTo(0, 0);
  await Promise.all([...document.images].map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; setTimeout(r, 20000); })));
  const vis = e => { const b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
  return {
    title: document.title,
    h1: [...document.querySelectorAll('article h1, .md-content h1')].filter(vis).map(e => e.textContent.trim()),
    headings: [...document.querySelectorAll('.md-content h1, .md-content h2, .md-content h3')].filter(vis).length,
    images: [...document.images].map(i => ({src: i.currentSrc.slice(0, 120), w: i.naturalWidth, ok: i.complete && i.naturalWidth > 0})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    external: [...document.querySelectorAll('script[src], link[rel=stylesheet][href], img[src], iframe[src]')]
      .map(e => e.src || e.href).filter(u => /^https?:/.test(u) && new URL(u).host !== location.host),
    styled: getComputedStyle(document.querySelector('.md-header') || document.body).position,
    text: document.body.innerText.length,
  };
})()"""


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')/'_docs'
    t0 = time.time()
    r = subprocess.run(['make', '-s', 'site', f'DOCS_SITE={out}'], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f'make site failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'
    print(f'make site: {time.time() - t0:.0f} s')
    assert (out/'index.html').exists()
    return out


@pytest.fixture(scope='module')
def server(site):
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    b = CDP(_chromium(), tmp_path_factory.mktemp('chromium-profile'))
    yield b
    b.close()


def _check_links(site: Path, base: str, links: list) -> list:
    "Internal links (under `base`, the site's root URL over http or file://) whose file or #anchor does not exist."
    bad = []
    for href in links:
        if not href.startswith(base): continue
        u = urlparse(href)
        rel = unquote(urlparse(href[len(base):]).path)
        f = site/rel
        if f.is_dir() or rel in ('', '/') or rel.endswith('/'): f = f/'index.html'
        if not f.exists(): bad.append(f'{href} (no file {f})'); continue
        if u.fragment and f.suffix == '.html':
            html = f.read_text(encoding='utf-8', errors='replace')
            if not re.search(r'''\bid=["']?%s["'\s>]''' % re.escape(unquote(u.fragment)), html): bad.append(f'{href} (no anchor)')
    return bad


MATH = r"""new Promise(r => {
  if (!window.MathJax || !MathJax.Hub) return r(-1);
  MathJax.Hub.Queue(() => r(document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length));
  setTimeout(() => r(-2), 45000);
})"""


def _check_page(browser, site, base, url, name, h1, min_images=0, min_headings=1, math=False):
    browser.open(url)
    s = browser.js(PAGE_STATE)
    if math:     # formulas typeset by the site's own MathJax copy (-1: MathJax missing, -2: it did not finish)
        n = browser.js(MATH, timeout=60)
        assert n > 0, f'{name}: no formula typeset by MathJax ({n})'
    png = browser.screenshot(ARTIFACTS/f'{name}.png')
    assert len(png) > 10_000, f'{name}: the screenshot is nearly empty ({len(png)} bytes)'
    assert s['text'] > 200, f'{name}: almost no text rendered at {url}'
    assert any(h1.lower() in h.lower() for h in s['h1']), f'{name}: no visible h1 containing {h1!r}; h1s: {s["h1"]}'
    assert s['headings'] >= min_headings, f'{name}: {s["headings"]} visible headings, expected >= {min_headings}'
    assert s['styled'] in ('sticky', 'fixed'), f'{name}: the theme stylesheet did not apply (header position {s["styled"]!r})'
    bad_imgs = [i for i in s['images'] if not i['ok']]
    assert not bad_imgs, f'{name}: images that did not load: {bad_imgs}'
    assert len(s['images']) >= min_images, f'{name}: {len(s["images"])} images, expected >= {min_images}'
    assert not s['external'], f'{name}: the page loads from outside the site: {s["external"]}'
    bad_links = _check_links(site, base, s['links'])
    assert not bad_links, f'{name}: internal links that do not resolve: {bad_links[:10]}'
    return s


def test_site_in_browser(site, server, browser):
    home = _check_page(browser, site, server, server + 'index.html', 'home', 'culnig', min_headings=3)
    assert len(home['links']) > 20
    _check_page(browser, site, server, server + 'chapters/05_scoring.html', 'chapter-05_scoring', 'scor', min_headings=2,
                math=True)
    _check_page(browser, site, server, server + 'chapters/10a_figures.html', 'chapter-10a_figures', 'figures')
    _check_page(browser, site, server, server + f'reports/{MODEL}/figures.html', f'report-{MODEL}-figures', 'figure',
                min_images=5)
    _check_page(browser, site, server, server + f'reports/{MODEL}/summary.html', f'report-{MODEL}-summary', MODEL)
    _check_page(browser, site, server, server + f'reports/{MODEL}/gallery.html', f'gallery-{MODEL}', MODEL, min_images=7)
    _check_page(browser, site, server, server + 'reproducing.html', 'reproducing', 'Reproducing the paper', min_images=7)
    api = _check_page(browser, site, server, server + 'api/scoring.html', 'api-scoring', 'culnig.scoring', min_headings=3)


def test_site_from_file_url(site, browser):
    "Opened straight from disk (file://): theme, images and links still work."
    _check_page(browser, site, site.as_uri() + '/', site.as_uri() + '/reproducing.html', 'file-reproducing',
                'Reproducing the paper', min_images=7)


def test_site_is_self_contained(site):
    "No page pulls a script, stylesheet or font from the network; every page of the nav was written."
    ext = re.compile(r'''<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(https?:)?//''', re.I)
    offenders = {}
    pages = list(site.rglob('*.html'))
    for f in pages:
        hits = [m.group(0)[:120] for m in ext.finditer(f.read_text(encoding='utf-8', errors='replace'))
                if 'rel="canonical"' not in m.group(0)]
        if hits: offenders[str(f.relative_to(site))] = hits[:3]
    assert not offenders, f'pages that load from the network: {dict(list(offenders.items())[:5])}'
    chapters = sorted(p.stem for p in (ROOT/'nbs').glob('[0-9]*.ipynb'))
    assert [p for p in chapters if not (site/'chapters'/f'{p}.html').exists()] == []
    for model in (p.name for p in (ROOT/'reports').iterdir() if p.is_dir()):
        for nb in (ROOT/'reports'/model).glob('*.ipynb'):
            assert (site/'reports'/model/f'{nb.stem}.html').exists(), nb
    assert (site/'data.html').exists() and (site/'api'/'core.html').exists()


def test_every_internal_link_of_every_page_resolves(site):
    "Static check of all pages (the browser test opens a few): each relative href/src names a file of the site."
    attr = re.compile(r'''\b(?:href|src)=["']([^"'#?]+)[^"']*["']''')
    bad = []
    for f in site.rglob('*.html'):
        for target in set(attr.findall(f.read_text(encoding='utf-8', errors='replace'))):
            if re.match(r'^[a-z][a-z0-9+.-]*:|^//', target, re.I) or target.startswith('/'): continue
            t = (f.parent/unquote(target)).resolve()
            if t.is_dir(): t = t/'index.html'
            if not t.exists(): bad.append(f'{f.relative_to(site)} -> {target}')
    assert not bad, f'{len(bad)} broken links, e.g. {bad[:10]}'
