"""The explorer in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) opens the page served by `attnlab serve`, translates a typed sentence, and
the heatmap has |source tokens| x |target tokens| cells whose weight shows on hover. Skipped only
where Chromium, its driver or Selenium is absent."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("selenium")
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "explorer.png"
SENTENCE = "w3 w1 w4 w1 w5 w2"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and DRIVER.exists()), reason="needs chromium and chromium-driver"
    ),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def api(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def open_page(browser: webdriver.Chrome, server: str) -> WebDriverWait:
    """The explorer's page, once its three models are listed; a 30-second wait for what follows."""
    wait = WebDriverWait(browser, 30)
    browser.get(server + "/")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model-a option")) == 3)
    return wait


def test_typed_sentence_gives_a_heatmap_of_every_pair_with_the_weight_on_hover(
    browser: webdriver.Chrome, server: str, tmp_path: Path
) -> None:
    wait = open_page(browser, server)
    Select(browser.find_element(By.ID, "model-a")).select_by_value("transformer")
    Select(browser.find_element(By.ID, "model-b")).select_by_value("fixed")
    box = browser.find_element(By.ID, "text")
    box.send_keys(SENTENCE)
    box.send_keys(Keys.CONTROL, Keys.ENTER)  # the keyboard path: Ctrl+Enter submits

    panel = '.panel[data-model="transformer"]'
    cells = wait.until(
        expected_conditions.presence_of_all_elements_located(
            (By.CSS_SELECTOR, f"{panel} table.heatmap td.cell")
        )
    )
    expected = api(
        server, "/api/translate", {"text": SENTENCE, "model": "transformer", "beam": 5, "n_best": 3}
    )
    n_src, n_trg = len(expected["source_tokens"]), len(expected["translations"][0]["tokens"])
    assert n_src == 6 and n_trg > 0
    assert len(cells) == n_src * n_trg
    headers = browser.find_elements(By.CSS_SELECTOR, f"{panel} table.heatmap thead th")
    assert [h.text for h in headers[1:]] == expected["source_tokens"]
    shown = browser.find_element(By.CSS_SELECTOR, f"{panel} .translation").text
    assert shown == (expected["translations"][0]["text"] or "(empty)")

    # hover the cell of target word 1, source word 3: the readout shows its weight
    t, s = min(1, n_trg - 1), 3
    cell = cells[t * n_src + s]
    ActionChains(browser).move_to_element(cell).perform()
    readout = browser.find_element(By.CSS_SELECTOR, f"{panel} .readout")
    weight = expected["attention"][t][s]
    wait.until(lambda _: f"{weight:.3f}" in readout.text)
    assert readout.text.endswith(f"{expected['source_tokens'][s]}: {weight:.3f}")

    browser.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "explorer.png"  # the test's artifact, and the README's picture
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)

    # the layer x head grid: 2 layers x 2 heads, and a click shows that head
    grid = browser.find_elements(By.CSS_SELECTOR, f"{panel} .grid button canvas")
    assert len(grid) == 4
    grid[3].click()
    caption = browser.find_element(By.CSS_SELECTOR, f"{panel} .caption").text
    assert "layer 2, head 2" in caption
    # the fixed-context model beside it: no heatmap, the one-vector view
    fixed = browser.find_element(By.CSS_SELECTOR, '.panel[data-model="fixed"]')
    assert fixed.find_elements(By.CSS_SELECTOR, "td.cell") == []
    assert fixed.find_element(By.CSS_SELECTOR, ".fixed-view .c").text == "c"


def test_reference_and_gold_links_show_the_sentence_aer(
    browser: webdriver.Chrome, server: str
) -> None:
    wait = open_page(browser, server)
    Select(browser.find_element(By.ID, "model-a")).select_by_value("gru")
    Select(browser.find_element(By.ID, "model-b")).select_by_value("")
    browser.find_element(By.ID, "text").send_keys("w1 w2 w3")
    browser.find_element(By.CSS_SELECTOR, "#gold-box summary").click()
    browser.find_element(By.ID, "reference").send_keys("w3 w2 w1")
    browser.find_element(By.ID, "gold").send_keys("2-0 1-1 0?2")
    browser.find_element(By.ID, "go").click()
    aer = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".panel .aer"))
    expected = api(
        server,
        "/api/align",
        {"text": "w1 w2 w3", "reference": "w3 w2 w1", "model": "gru", "gold": "2-0 1-1 0?2"},
    )
    assert aer[0].text == f"AER of this sentence: {expected['aer']:.3f} (gold links outlined)"
    assert len(browser.find_elements(By.CSS_SELECTOR, "td.cell")) == 9
    assert len(browser.find_elements(By.CSS_SELECTOR, "td.gold-sure")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "td.gold-possible")) == 1


def test_a_bad_request_shows_the_servers_one_line_error(
    browser: webdriver.Chrome, server: str
) -> None:
    wait = open_page(browser, server)
    browser.find_element(By.ID, "text").send_keys(" ".join(["w1"] * 30))  # > 24 positions
    browser.find_element(By.ID, "go").click()
    wait.until(lambda d: "more than 24" in d.find_element(By.ID, "status").text)
