"""The page in a real browser: headless Chromium (Japanese font: fonts-ipafont-gothic) driven by Selenium against
uvicorn on 127.0.0.1. A pasted text gives pairs in the table, with the answer marked in its passage, and a question
holding markup (forced: the tiny model writes none) stays text: no element of it reaches the DOM.
The screenshot is left in the test's tmp dir (and in $JAQG_SCREENSHOT when set) to look at."""

import os
import shutil
from pathlib import Path

import pytest
from serve_helpers import TEXT, ThreadServer, make_multitask

from jaqg.service.app import create_app
from jaqg.service.engine import EngineSettings, load_engine

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EVIL_QUESTION = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">はどこか。'
EVIL_TEXT = "<b>太字</b>の青葉町は<img src=y onerror=\"window.pwned=3\">山形県の南部にある町である。\n" + TEXT

pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()),
                                reason=f"{CHROMIUM} or {CHROMEDRIVER} missing: apt-get install chromium "
                                       "chromium-driver fonts-ipafont-gothic")


@pytest.fixture(scope="module")
def server(tiny_t5_dir, tmp_path_factory):
    model = make_multitask(tiny_t5_dir, tmp_path_factory.mktemp("browser") / "multi")
    engine = load_engine(EngineSettings(str(model), threads=1)).start()
    run_qag = engine.worker.handlers["qag"]

    def with_markup(key, payloads):  # the real pipeline, then every question made hostile (and, as the random
        results = run_qag(key, payloads)  # model keeps none, every other pair kept, to show both kinds of row)
        for result in results:
            for i, r in enumerate(result.records):
                r["question"] = EVIL_QUESTION + r["question"]
                if i % 2:
                    r.update(kept=True, reason=None, roundtrip_answer=r["answer"], roundtrip_f1=1.0)
        return results
    engine.worker.handlers["qag"] = with_markup
    with ThreadServer(create_app(engine)) as server:
        yield server
    engine.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path / 'profile'}", "--lang=ja"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_pairs_appear_in_the_table_as_text(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
    browser.get(server.url + "/")
    WebDriverWait(browser, 20).until(EC.text_to_be_present_in_element((By.ID, "status"), "ready"))
    browser.find_element(By.ID, "text").send_keys(EVIL_TEXT)
    Select(browser.find_element(By.ID, "answers")).select_by_value("ner")
    browser.find_element(By.ID, "run").click()
    WebDriverWait(browser, 120).until(EC.text_to_be_present_in_element((By.ID, "status"), "done"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#pairs tbody tr")
    shot = tmp_path / "service_page.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("JAQG_SCREENSHOT"):
        shutil.copy(shot, os.environ["JAQG_SCREENSHOT"])
    assert len(rows) >= 3 and browser.find_element(By.ID, "pairs").is_displayed()
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert all(c[2].startswith(EVIL_QUESTION) for c in cells)  # the markup shows as the characters it is
    assert any(c[3] == "山形県" for c in cells)
    marks = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#pairs td.passage mark")]
    assert "山形県" in marks and len(marks) == len(rows)
    # nothing of the user's text or the model's output became an element, and no handler ran
    assert browser.find_elements(By.CSS_SELECTOR, "#pairs img, #pairs script, #pairs b, body img") == []
    assert [s.get_attribute("src") for s in browser.find_elements(By.TAG_NAME, "script")] == [
        server.url + "/static/app.js"]
    assert browser.execute_script("return window.pwned === undefined")
    assert {c[1] for c in cells} == {"kept", "dropped: empty question"}
    assert browser.find_element(By.ID, "downloads").is_displayed()
    assert shot.stat().st_size > 10_000
