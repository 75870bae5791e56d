"""Rule-based reader: the bar every learned policy must beat.

It parses the (templated) question into a small plan (which entities, which person hops
to follow, which attribute to extract, and whether to extract, compare two values or
answer yes/no), then replays that plan on the current observation at every step: open
the chunk titled like the next entity, read the bridge entity after the relation words
("directed by", "son of", "married" ...), open the chunk titled like it, and finally
extract the attribute (dates, places, nationalities, names) from the last chunk read.
Everything is derived from the observation, so the policy is stateless across steps and
episodes and deterministic (the episode rng is never used).

Modules, by concern: ``text`` (patterns, normalisation, countries), ``question`` (the plan),
``titles`` (which chunk a name refers to), ``relations`` (bridge following), ``attributes``
(candidate extraction by answer kind), ``comparison`` (yes/no and which-of-two answers),
``policy`` (the policy itself).
"""

from tinker_explorer.policies.heuristic.attributes import (EXTRACTORS, award, birth_date, birth_place, burial_place,
                                                           cause_of_death, countries, death_date, death_place,
                                                           education, employer, nationality, start_date)
from tinker_explorer.policies.heuristic.policy import HeuristicPolicy
from tinker_explorer.policies.heuristic.question import Plan, mask_entities, parse_question
from tinker_explorer.policies.heuristic.relations import person_mentions, related_entity
from tinker_explorer.policies.heuristic.text import (COUNTRY_OF, DATE_RE, MONTHS, NAME_RE, first_sentence, fold,
                                                     nationality_mentions, norm, parse_date)
from tinker_explorer.policies.heuristic.titles import match_name, question_chunks, span_chunk, title_variants

__all__ = ["COUNTRY_OF", "DATE_RE", "EXTRACTORS", "MONTHS", "NAME_RE", "HeuristicPolicy", "Plan", "award",
           "birth_date", "birth_place", "burial_place", "cause_of_death", "countries", "death_date", "death_place",
           "education", "employer", "first_sentence", "fold", "mask_entities", "match_name", "nationality",
           "nationality_mentions", "norm", "parse_date", "parse_question", "person_mentions", "question_chunks",
           "related_entity", "span_chunk", "start_date", "title_variants"]
