"""Synthetic JSQuAD: invented facts written out as SQuAD v1.1 JSON, so everything runs offline.

    python -m jaqg.data.synthetic --output_dir data_synthetic --n_train 4000 --n_valid 400 --seed 0

writes ``train-v1.3.json`` and ``valid-v1.3.json`` in the JSQuAD layout (contexts are ``title [SEP] body``,
answers are exact spans whose ``answer_start`` is their first occurrence in the context, as in JSQuAD; about
one question in ten finds its answer in the title). Each paragraph describes one town, person or company from
invented fact tables and mixes in a distractor entity of the same kind, so a question must be read to pick the
right span. Names (towns, rivers, lakes, people, companies, works) are composed from syllable pools and split by a
hash of the name: train and valid never share one, so a model has to copy from the context rather than remember.
Attribute words (prefectures, products, occupations) are shared plain vocabulary. Deterministic in ``seed``.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.io import write_json

SPLITS = ("train", "valid")
VALID_SHARE = 20  # percent of every name pool that only valid may use

# Name pools (invented combinations; any resemblance to a real place is chance).
PLACE_HEAD = "青赤白北南東西上下大小高中新古本宮富松竹梅桜杉森林岡島原野沢谷浜橋石岩金銀若朝夕星月花泉"
PLACE_TAIL = "川山田原野沢谷浜橋島崎坂井平瀬尾戸江浦木里根台丘畑"
TOWN_SUFFIX = ("町", "村", "市")
SURNAME_HEAD = "佐鈴高田伊渡山中小加吉松井木林清森池橋阿石前藤岡長坂遠青西村"
SURNAME_TAIL = "藤木橋中村田川野本山口井上原崎島谷部沢"
GIVEN_NAMES = ("一郎", "健太", "翔", "大輔", "誠", "浩二", "拓也", "修", "直樹", "亮", "花子", "美咲", "葵",
               "陽子", "恵", "由紀", "千尋", "彩", "真理", "結衣", "和也", "達彦", "紀子", "静香")
KATA = ("ア", "イ", "カ", "キ", "ク", "サ", "シ", "ス", "タ", "テ", "ト", "ナ", "ニ", "ノ", "ハ", "フ", "ホ", "マ",
        "ミ", "ム", "ラ", "リ", "ル", "レ", "ロ", "ヤ", "ユ", "ヨ", "ワ", "ガ", "ゴ", "ダ", "デ", "バ", "ベ", "パ")
COMPANY_SUFFIX = ("工業", "電機", "製作所", "商事", "食品", "化学", "精機", "産業")
WORK_WORDS = ("風", "海", "星", "夜", "光", "森", "雪", "声", "夢", "空", "灯", "窓", "鳥", "舟", "影", "歌")

# Shared attribute vocabulary.
PREFECTURES = ("北海道", "青森県", "岩手県", "秋田県", "山形県", "福島県", "栃木県", "群馬県", "新潟県", "富山県",
               "石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県", "三重県", "滋賀県", "奈良県", "鳥取県",
               "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "佐賀県", "熊本県",
               "大分県", "宮崎県")
DIRECTIONS = ("北", "南", "東", "西", "中央")
PRODUCTS = ("りんご", "緑茶", "陶器", "和紙", "日本酒", "木綿", "真珠", "漆器", "みかん", "そば", "鉄器", "扇子",
            "しょうゆ", "ぶどう", "絹織物", "竹細工", "干し柿", "こんにゃく", "桃", "刃物")
OCCUPATIONS = ("小説家", "画家", "作曲家", "建築家", "詩人", "写真家", "彫刻家", "植物学者", "天文学者", "陶芸家")
INDUSTRIES = ("機械メーカー", "食品メーカー", "化学メーカー", "電機メーカー", "商社", "造船会社")
FACILITIES = ("図書館", "私塾", "病院", "美術館", "天文台", "劇場", "学校", "植物園")
AWARDS = ("県文化賞", "新人賞", "大賞", "芸術選奨", "特別賞")


def split_of(name: str) -> str:
    """Which split may use a name: a stable hash, so the partition does not depend on seed or sizes."""
    return "valid" if zlib.crc32(name.encode("utf-8")) % 100 < VALID_SHARE else "train"


class Names:
    """Draws fresh names of one split, never the same name twice within a paragraph."""

    def __init__(self, rng: random.Random, split: str):
        self.rng, self.split = rng, split
        self.used: set[str] = set()

    def _draw(self, make) -> str:
        for _ in range(1000):
            name = make()
            if split_of(name) == self.split and name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("name pool exhausted")  # cannot happen with the pools above

    def place(self, tails: str = PLACE_TAIL) -> str:
        return self.rng.choice(PLACE_HEAD) + self.rng.choice(tails)

    def town(self) -> str:
        return self._draw(lambda: self.place() + self.rng.choice(TOWN_SUFFIX))

    def river(self) -> str:
        return self._draw(lambda: self.place(PLACE_TAIL.replace("川", "")) + "川")

    def lake(self) -> str:
        return self._draw(lambda: self.place() + "湖")

    def person(self) -> str:
        r = self.rng
        return self._draw(lambda: r.choice(SURNAME_HEAD) + r.choice(SURNAME_TAIL) + r.choice(GIVEN_NAMES))

    def company(self) -> str:
        r = self.rng
        return self._draw(lambda: "".join(r.choices(KATA, k=r.randint(2, 4))) + r.choice(COMPANY_SUFFIX))

    def work(self) -> str:
        r = self.rng
        return self._draw(lambda: f"{r.choice(WORK_WORDS)}の{r.choice(WORK_WORDS)}")


@dataclass
class Paragraph:
    title: str
    sentences: list[str]
    # (question, answer, index of the sentence that answers it); sentence 0 defines the title entity
    qas: list[tuple[str, str, int]]


def town_paragraph(rng: random.Random, names: Names) -> Paragraph:
    town, other = names.town(), names.town()
    river, lake, person = names.river(), names.lake(), names.person()
    pref, direction = rng.choice(PREFECTURES), rng.choice(DIRECTIONS)
    product, other_product = rng.sample(PRODUCTS, 2)
    facility, year, pop = rng.choice(FACILITIES), rng.randint(1600, 1990), rng.randint(12, 980) * 100
    sentences = [f"{town}は{pref}の{direction}部に位置する{town[-1]}である。",
                 f"人口は約{pop}人で、古くから{product}の産地として知られる。",
                 f"{town}の中心部を{river}が流れ、下流で{lake}に注いでいる。",
                 f"{year}年には{person}がこの地に{facility}を建てた。",
                 f"となりの{other}は{other_product}で有名である。"]
    qas = [(rng.choice([f"{town}はどの都道府県にあるか。", f"{town}があるのは何県か。"]), pref, 0),
           (f"{town}の人口はおよそ何人か。", f"{pop}人", 1),
           (rng.choice([f"{town}は何の産地として知られるか。", f"{town}の特産品は何か。"]), product, 1),
           (rng.choice([f"{town}の中心部を流れる川は何か。", f"{town}を流れる川の名前は何か。"]), river, 2),
           (f"{river}が注ぐ湖はどこか。", lake, 2),
           (rng.choice([f"{facility}を建てた人物は誰か。", f"{town}に{facility}を建てたのは誰か。"]), person, 3),
           (f"{person}が{facility}を建てたのは何年か。", f"{year}年", 3),
           (f"{other}は何で有名か。", other_product, 4),
           (f"古くから{product}の産地として知られる{town[-1]}はどこか。", town, 1)]  # answer first found in the title
    return Paragraph(town, sentences, qas)


def person_paragraph(rng: random.Random, names: Names) -> Paragraph:
    person, pupil = names.person(), names.person()
    birthplace, new_home = names.town(), names.town()
    work, other_work = names.work(), names.work()
    job, award = rng.choice(OCCUPATIONS), rng.choice(AWARDS)
    born = rng.randint(1820, 1970)
    moved = born + rng.randint(25, 50)
    sentences = [f"{person}は{born}年に{birthplace}で生まれた{job}である。",
                 f"代表作は「{work}」で、この作品で{award}を受けた。",
                 f"{moved}年に弟子の{pupil}とともに{new_home}へ移り住んだ。",
                 f"{pupil}はのちに「{other_work}」を発表している。"]
    qas = [(rng.choice([f"{person}はどこで生まれたか。", f"{person}の出身地はどこか。"]), birthplace, 0),
           (f"{person}が生まれたのは何年か。", f"{born}年", 0),
           (rng.choice([f"{person}の職業は何か。", f"{person}は何をした人物か。"]), job, 0),
           (f"{person}の代表作は何か。", work, 1),
           (f"{award}を受けた作品は何か。", work, 1),
           (f"{person}の弟子は誰か。", pupil, 2),
           (f"{person}が{moved}年に移り住んだのはどこか。", new_home, 2),
           (f"{pupil}が発表した作品は何か。", other_work, 3),
           (f"「{work}」を書いたのは誰か。", person, 1)]  # answer first found in the title
    return Paragraph(person, sentences, qas)


def company_paragraph(rng: random.Random, names: Names) -> Paragraph:
    company, rival = names.company(), names.company()
    founder, town = names.person(), names.town()
    industry = rng.choice(INDUSTRIES)
    product, rival_product = rng.sample(PRODUCTS, 2)
    year, staff = rng.randint(1870, 2010), rng.randint(3, 95) * 100
    sentences = [f"{company}は{year}年に{founder}が{town}で創業した{industry}である。",
                 f"主力製品は{product}の加工機械で、従業員は約{staff}人。",
                 f"同業の{rival}は{rival_product}向けの機械を主に手がけている。"]
    qas = [(rng.choice([f"{company}を創業したのは誰か。", f"{company}の創業者は誰か。"]), founder, 0),
           (f"{company}が創業されたのは何年か。", f"{year}年", 0),
           (rng.choice([f"{company}はどこで創業されたか。", f"{company}が創業された町はどこか。"]), town, 0),
           (f"{company}の従業員はおよそ何人か。", f"{staff}人", 1),
           (f"{company}の主力製品は何の加工機械か。", product, 1),
           (f"{rival}は何向けの機械を主に手がけているか。", rival_product, 2),
           (f"{founder}が創業した会社はどこか。", company, 0)]  # answer first found in the title
    return Paragraph(company, sentences, qas)


MAKERS = (town_paragraph, person_paragraph, company_paragraph)


def make_split(split: str, n_questions: int, seed: int, sep: str = "[SEP]", max_sentences: int = 0,
               all_questions: bool = False) -> dict:
    """A JSQuAD-shaped dict with exactly ``n_questions`` questions whose names all belong to ``split``.

    ``max_sentences`` > 0 keeps the defining sentence and a random few others (shorter contexts train faster);
    only questions that the kept sentences answer are asked. ``all_questions`` asks every one of them (not a random
    3-5), so each sentence's answers are all annotated: answer-extraction targets are then complete.
    """
    rng = random.Random(f"{seed}-{split}")
    articles, n = [], 0
    while n < n_questions:
        para = rng.choice(MAKERS)(rng, Names(rng, split))
        # the defining sentence first, as in an encyclopedia; the rest in varying order
        rest = rng.sample(range(1, len(para.sentences)), len(para.sentences) - 1)
        kept = [0] + rest[:max_sentences - 1 if max_sentences > 0 else None]
        context = f"{para.title} {sep} {''.join(para.sentences[i] for i in kept)}"
        answerable = [(question, answer) for question, answer, support in para.qas if support in kept]
        if all_questions:
            picked = answerable[:n_questions - n]
        else:
            picked = rng.sample(answerable, min(n_questions - n, rng.randint(3, 5), len(answerable)))
        qas = []
        for q, (question, answer) in enumerate(picked):
            start = context.find(answer)
            assert start >= 0, (answer, context)
            qas.append({"id": f"{split}{len(articles):06d}q{q}", "question": question,
                        "answers": [{"text": answer, "answer_start": start}], "is_impossible": False})
        n += len(qas)
        articles.append({"title": para.title, "paragraphs": [{"context": context, "qas": qas}]})
    return {"version": "synthetic-1.0", "data": articles}


def write_synthetic_jsquad(out_dir: str | Path, n_train: int = 4000, n_valid: int = 400, seed: int = 0,
                           sep: str = "[SEP]", max_sentences: int = 0, all_questions: bool = False
                           ) -> dict[str, Path]:
    """Write ``train-v1.3.json`` and ``valid-v1.3.json`` into ``out_dir``; returns their paths by split."""
    if n_train < 1 or n_valid < 1:
        raise UserError(f"`n_train` and `n_valid` must be at least 1 (got {n_train}, {n_valid})")
    out_dir = Path(out_dir)
    paths = {}
    for split, n in (("train", n_train), ("valid", n_valid)):
        paths[split] = out_dir / f"{split}-v1.3.json"
        write_json(paths[split], make_split(split, n, seed, sep, max_sentences, all_questions))
    return paths
