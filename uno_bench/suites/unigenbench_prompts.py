"""UniGenBench++ judge prompts: the official templates and checkpoint definitions, as data.

The exact text is the protocol (the released offline judges were trained on it, and leaderboard
numbers were produced with it), so it is reproduced here unchanged, whitespace included: the
templates are the f-strings of CodeGoat24/UniGenBench `eval/gemini_en_eval.py` and
`eval/gemini_zh_eval.py` (the qwenvl_72b_*_eval.py clients send the same text), file versions read
at blobs 2e2ff15 (en) and 19afb67 (zh); the suite data pin is commit 49d0bce (2026-06-07), whose
copy of these scripts could not be compared [unverified]. Their sha256 is part of the judge
identity, so any correction shows in manifests and re-keys the judge cache. License: CC BY 4.0
(repository License.txt). Placeholders: {prompt}, {testpoint} (the Python repr of the checkpoint
list), {explanation} and {test_explanation} (built by `render`).
"""

from __future__ import annotations

TEMPLATE_EN = (
    "You are a precise and objective English-language image description system. I will provide you "
    "with a prompt for image generation, as well as the corresponding generated image. You will be "
    "given a set of evaluation criteria (checkpoints) and their explanations that define the "
    "relevance between the prompt and the image. You must evaluate whether the generated image "
    "fulfills the requirements implied by each checkpoint in the prompt.\n"
    "\n"
    "            For each image, follow the steps below in order:\n"
    "\n"
    "            1. The prompt for the generated image is: 「{prompt}」. You are to analyze the image "
    "content in detail from the angles specified in {testpoint}. Detailed definitions of these "
    "checkpoints are provided here: {explanation}. The specific description of each checkpoint in "
    "the context of the prompt is: {test_explanation}. You must analyze whether the image meets the "
    "requirements for each checkpoint individually.\n"
    "\n"
    "            2. Based on the above analysis, determine whether the generated image satisfies "
    "each checkpoint in terms of its visual alignment with the prompt. If the image meets the "
    "requirements of a checkpoint, assign a score of 1 to that checkpoint; otherwise, assign a score "
    "of 0.\n"
    "\n"
    "            Constraints:\n"
    "            - Only describe content that is directly visible; do not interpret, speculate, or "
    "infer any background story.\n"
    "            - Focus solely on visually verifiable details.\n"
    "            - Omit any uncertain or ambiguous elements.\n"
    "            - Even if mentioned in the input, do not describe abstract entities, emotions, or "
    "speculative ideas.\n"
    "\n"
    "            Please strictly follow the output format below:\n"
    "\n"
    "            <description>\n"
    "                <prompt>{prompt}</prompt>\n"
    "                <checkpoint>{testpoint}</checkpoint>\n"
    "                <analysis>A list using square brackets `[]`, where each element is a string of "
    "detailed analysis corresponding to one checkpoint, as required in Step 1. **Ensure the list "
    "length matches the number of checkpoints**. Each element should be a string representing the "
    "analysis for that specific checkpoint.</analysis>\n"
    "                <score>A list using square brackets `[]`, where each element is a binary score "
    "(0 or 1) corresponding to a checkpoint, as required in Step 2. **Ensure the list length matches "
    "the number of checkpoints**. Each element should be either 0 or 1, indicating whether the "
    "checkpoint was satisfied.</score>\n"
    "            </description>\n"
    "            "
)

TEMPLATE_ZH = (
    "你是一个精确且客观的中文图像描述系统。我会给你一段生成图像的提示词，以及对应的生成图像，同时对于生成图像与提示词之间相关性的考点及对应说明，你需要逐个考点来判断生成的图像是否遵从了提示词中所包含的对应考点要求。\n"
    "\n"
    "        针对每张图像，你需要按照顺序完成如下的任务：\n"
    "        1. "
    "这张生成图像对应的提示词为「{prompt}」，你需要根据{testpoint}中的这些角度逐个对图像内容进行更进一步的详细分析，考点的详细说明如下：{explanation}，各个考点在这条prompt中对应的描述说明如下：{test_explanation}, 你需要根据考点逐一判断生成图像是否满足了考点对应的要求\n"
    "        2. 综合上述回答，你需要逐个考点判断生成的图像在考点关注维度上是否符合输入的prompt，如果满足要求则该考点得分为1，否则为0\n"
    "\n"
    "        约束条件：\n"
    "        - 仅描述直接可见的内容；不要进行解读、推测或暗示背景故事。\n"
    "        - 专注于能够确定性陈述的视觉细节。\n"
    "        - 省略不确定或不清晰的细节。\n"
    "        - 即使输入中存在，也不要描述抽象实体、情感或推测。\n"
    "\n"
    "        请严格遵循以下输出格式：\n"
    "\n"
    "        <description>\n"
    "            <prompt>{prompt}</prompt>\n"
    "            <checkpoint>{testpoint}</checkpoint>\n"
    "            "
    "<analysis>按照步骤1对于给定考点进行逐项详细分析，格式为一个方括号列表，**确保列表的长度与考点的数量相等**，每个元素为一个字符串，表示对于对应考点的分析</analysis>\n"
    "            <score>按照步骤2逐个对考点进行打分，格式为一个方括号列表，**确保列表的长度与考点的数量相等**，每个元素为0或者1，表示对应考点是否完成</score>\n"
    "        </description>\n"
    "        "
)

# Opening of the two generated blocks, per language (their items are "\n<checkpoint>: <text>", then "\n」").
BLOCKS = {
    "en": ("Checkpoints Defination:「", "Checkpoints Description:「"),
    "zh": ("考点说明：「", "考点描述说明：「"),
}

DEFINITIONS_EN = {
    "Relationship - Comparison": "Comparison of attributes between two entities",
    "Relationship - Composition": "An entity is composed of one or more other entities",
    "Relationship - Inclusion": "A container contains an entity; the container can also be a plane, e.g., a snake in a painting on a wall",
    "Relationship - Similarity": "Existence of similarities between different entities",
    "Compound - Imagination": "Things that are impossible in real life",
    "Compound - Feature Matching": "Different entities possess different types of attribute features",
    "Attribute - Size": "Assessment of the subject's size, height, length, thickness, width, or tallness/shortness",
    "Attribute - Expression": "Distinguishing expressions from facial actions; expressions must convey a clear emotion",
    "Attribute - Quantity": "Focuses on the challenge of depicting three or more items accurately",
    "Attribute - Material": "Evaluation of different material types and textures",
    "Attribute - Color": "Assessment of different colors",
    "Attribute - Shape": "Assessment of different shapes",
    "Entity Layout - Two-Dimensional Space": "Arrangement and positioning of entities in two-dimensional space",
    "Entity Layout - Three-Dimensional Space": "Arrangement and positioning of entities in three-dimensional space",
    "Action - Full-body (Character/Anthropomorphic)": "Full-body actions by characters or anthropomorphized entities, such as running, diving, breakdancing, swinging, or hanging upside down",
    "Action - Hand (Character/Anthropomorphic)": "Focuses on hand structure—checking if fingers are missing, broken, or distorted",
    "Action - Animal": "Actions performed by animals",
    "Action - Contact Interaction": "Physical interactions between entities",
    "Action - Non-contact Interaction": "For example, two people making eye contact—testing if the model can accurately depict such interactions",
    "Action - State": "A sustained state of an entity, typically expressed with a verb",
    "Grammar - Negation": "Tests the model’s understanding of negation grammar",
    "Grammar - Pronoun Reference": "Tests if the model can resolve ambiguous pronoun references correctly",
    "Grammar - Consistency": "Evaluation of shared attributes among entities",
    "World Knowledge": "Covers knowledge of celebrities, architecture, basic domain knowledge, and internet slang. Celebrities with modern copyright risk should be avoided",
    "Style": "Art, painting, photography, design styles, and corresponding artist names",
    "Text Generation": "The text content model needed to accurately generate without any omissions or extra words",
    "Logical Reasoning": "Requires the model to deeply understand the intent and perform reasoning",
}

DEFINITIONS_ZH = {
    "关系-比较关系": "两者的属性对比",
    "关系-构成关系": "一个实体由另一种或几种实体构成",
    "关系-包含关系": "容器对实体的包含关系，容器也可以是平面的，比如：墙上的画里有一只蛇",
    "关系-相似关系": "不同实体中存在的相似关系",
    "复合考点-想象力": "现实生活中不可能发生的事情",
    "复合考点-不同实体特征匹配": "不同实体拥有不同类的属性特征",
    "实体布局-三维空间": "对于三维空间实体的摆放布局",
    "实体布局-二维空间": "对于二维空间实体的摆放布局",
    "属性-大小": "对主体 大小/高低/长短/粗细/宽窄/高矮",
    "属性-表情": "区分表情和脸部动作，脸部动作组成表情，但表情是一定要体现出某种情绪的。",
    "属性-数量": "重点考察三个或三个以上的数字难点",
    "属性-材质": "考察不同材质",
    "属性-形状": "考察不同形状",
    "属性-颜色": "考察不同颜色",
    "动作-人物/拟人全身动作": "人物或拟人全身性的动作，比如奔跑、跳水、跳街舞、荡秋千、倒挂金钩等",
    "动作-人物/拟人手部动作": "针对手部结构的考点，考核手指是否有缺失、崩坏等问题",
    "动作-动物动作": "动物的动作",
    "动作-实体间有接触互动": "各种实体间的有接触互动",
    "动作-实体间无接触互动": "比如两个人对视，考核模型能否把对视关系画对",
    "动作-状态": "实体持续的状态，一般是一个动词。",
    "语法-否定": "考察模型对于否定语法的掌握程度",
    "语法-代词指代": "这里的代词通常是有一些迷惑性的，考察模型能否正确对应",
    "语法-统一性": "实体共同属性的考察",
    "世界知识": "名人、建筑、基础的领域知识、网络流行语。其中名人不要使用当代有版权风险的名人",
    "风格": "艺术、绘画、摄影、设计风格，及对应艺术家名称",
    "逻辑推理": "需要模型深入理解意图并进行一定的推理",
    "文本生成": "考察模型能否准确生成不同语言，字体和长、短文字",
}

