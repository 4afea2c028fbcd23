"""Every user-facing French text, and French date formatting (Babel, Europe/Paris)."""

from __future__ import annotations

import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

PARIS = ZoneInfo("Europe/Paris")
LOCALE = "fr_FR"


def hour(moment: datetime) -> str:
    """French clock time: '9 h', '9 h 45'."""
    local = moment.astimezone(PARIS)
    return f"{local.hour} h {local.minute:02d}" if local.minute else f"{local.hour} h"


def day(value: date | datetime, *, year: bool = True) -> str:
    """'jeudi 26 novembre 2026' (or without the year)."""
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    return _day(value, year)


@functools.lru_cache(maxsize=2048)
def _day(value: date, year: bool) -> str:
    """Babel's formatting, once per day shown (a slot card names a dozen days, every turn);
    the first of the month is « 1er », as French writes it."""
    shown = str(format_date(value, "EEEE d MMMM y" if year else "EEEE d MMMM", locale=LOCALE))
    if value.day == 1:
        weekday, _, rest = shown.partition(" 1 ")
        shown = f"{weekday} 1er {rest}"
    return shown


def duration(days: int) -> str:
    """A retention period as French says it: « 3 ans », « 1 an et 6 mois », « 400 jours »
    when it is not a round number of months (then « environ » years and months)."""
    years, rest = divmod(days, 365)
    months = round(rest / 30.44)
    if months == 12:
        years, months = years + 1, 0
    if not years and not months:
        return f"{days} jour{'s' if days > 1 else ''}"
    parts = []
    if years:
        parts.append(f"{years} an{'s' if years > 1 else ''}")
    if months:
        parts.append(f"{months} mois")
    said = " et ".join(parts)
    exact = years * 365 + round(months * 30.44) == days
    return said if exact else f"environ {said}"


def plural(count: int, singular: str, many: str) -> str:
    """`singular` for 0 or 1 (French), else `many`."""
    return singular if count <= 1 else many


def day_and_hour(moment: datetime, *, year: bool = True) -> str:
    """'jeudi 26 novembre 2026 à 9 h 45'."""
    return f"{day(moment, year=year)} à {hour(moment)}"


def slot_label(moment: datetime) -> str:
    """Short label for a slot button: 'jeudi 26 novembre · 9 h 45'."""
    return f"{day(moment, year=False)} · {hour(moment)}"


DAY_KIND = {
    "permanence": "permanence",
    "retirement": "vendredi retraite",
    "extra": "journée supplémentaire",
}
# The same kinds, as choices on the worker's « Ajouter une journée » form.
DAY_KIND_CHOICES = {kind: label[:1].upper() + label[1:] for kind, label in DAY_KIND.items()}
DATE_PLACEHOLDER = "jj/mm/aaaa"
TIME_PLACEHOLDER = "hh:mm"

SKIP_REASON = {"holiday": "jour férié", "closed": "fermé"}
HIDDEN_COUNT = "masqué"


def normalise(text: str) -> str:
    """Lower case without accents or extra spaces, for matching typed commands."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace("-", " ").replace("’", "'").split())


BOT_NAME = "Permanence sociale"

WELCOME_TITLE = "Bienvenue sur la permanence de l'assistante sociale du travail"
WELCOME_BODY = (
    "Je vous aide à prendre rendez-vous avec l'assistante sociale du travail, en visio Teams, "
    "par téléphone ou au bureau 16 du siège, quel que soit votre site."
)
CONFIDENTIALITY = (
    "🔒 Confidentialité : seule l'assistante sociale (et sa remplaçante lorsqu'elle est absente) "
    "sait qui prend rendez-vous et pourquoi. Ni la DRH, ni votre hiérarchie, ni le service informatique "
    "n'y ont accès. L'assistante sociale est tenue au secret professionnel."
)
HELP_COMMANDS = (
    "Vous pouvez aussi écrire : « rendez-vous », « mes rendez-vous », « annuler », « urgence », "
    "« mes données » ou « aide »."
)
WORKER_HELP = (
    "Espace assistante sociale : « agenda », « semaine », « demandes », « urgences », « absence », "
    "« bloquer », « journée »."
)

HELP_TITLE = "Aide : ce que je peux faire pour vous"
HELP_INTRO = "Écrivez l'une de ces commandes, ou utilisez les boutons ci-dessous :"
HELP_AGENT = [
    ("rendez-vous", "prendre rendez-vous avec l'assistante sociale du travail (visio, téléphone, bureau 16)"),
    ("mes rendez-vous", "voir vos rendez-vous à venir, les déplacer ou les annuler (aussi « annuler »)"),
    ("urgence", "être rappelé(e) rapidement ; en cas de danger immédiat, les numéros à appeler"),
    ("mes données", "voir ce que le service conserve à votre sujet et en demander l'effacement"),
    ("aide", "afficher cette aide"),
]
HELP_WORKER_INTRO = "Espace assistante sociale"
HELP_WORKER = [
    ("agenda", "vos rendez-vous du jour"),
    ("semaine", "vos rendez-vous de la semaine"),
    ("demandes", "les demandes de rendez-vous à confirmer"),
    ("urgences", "les demandes urgentes à rappeler"),
    ("absence", "déclarer une absence et votre remplaçante"),
    ("bloquer", "bloquer un créneau"),
    ("journée", "ajouter une journée de permanence"),
]

ACTION_BOOK = "Prendre rendez-vous"
ACTION_MINE = "Mes rendez-vous"
ACTION_URGENT = "Urgence"
ACTION_HELP = "Aide"
ACTION_AGENDA_TODAY = "Agenda du jour"
ACTION_AGENDA_WEEK = "Agenda de la semaine"
ACTION_REQUESTS = "Demandes en attente"
ACTION_URGENT_LIST = "Urgences en cours"
ACTION_ABSENCE = "Déclarer une absence"
ACTION_BLOCK = "Bloquer un créneau"
ACTION_ADD_DAY = "Ajouter une journée"

SITE_TITLE = "Sur quel site travaillez-vous ?"
SITE_HINT = "Je m'en souviendrai pour vos prochains rendez-vous ; vous pourrez le changer."
SITE_LABEL = "Votre site"
CHANGE_SITE = "Changer de site"
CONTINUE = "Continuer"

FORM_TITLE = "Votre demande de rendez-vous"
FORM_SITE = "Site : {site}"
TOPIC_LABEL = "Sujet (facultatif)"
TOPIC_PLACEHOLDER = "Choisissez un sujet"
MODE_LABEL = "Comment souhaitez-vous échanger ?"
MESSAGE_LABEL = "Un mot pour l'assistante sociale (facultatif, confidentiel)"
PHONE_LABEL = "Téléphone pour vous rappeler (facultatif, obligatoire pour un rendez-vous téléphonique)"
SEE_SLOTS = "Voir les créneaux"

MODE_LABELS = {
    "teams": "En visio Teams",
    "in_person": "En présentiel au bureau 16 (siège, Futuroscope)",
    "phone": "Par téléphone",
    "other_site": "Rencontre sur mon site (sur demande, à confirmer)",
    "home_visit": "Visite à domicile (sur demande, à confirmer)",
}

SLOTS_TITLE = "Choisissez un créneau"
SLOTS_EMPTY = "Aucun créneau libre sur cette période."
SLOTS_NONE_OPEN = (
    "Aucun créneau n'est ouvert à la réservation pour le moment : les prochains jours de permanence "
    "ne sont pas encore fixés. Réessayez dans quelques jours."
)
MORE_DATES = "Dates suivantes ▶"
EARLIER_DATES = "◀ Dates précédentes"
ABSENT_SHORT = "L'assistante sociale est absente jusqu'au {date}. Voici les premiers créneaux après son retour."
ABSENT_OPEN = (
    "L'assistante sociale est absente jusqu'à nouvel ordre : vous pourrez prendre rendez-vous dès son retour. "
    "En attendant, le service minimum d'information vous répond."
)
ABSENT_OPEN_LONG = (
    "L'assistante sociale est absente jusqu'à nouvel ordre ; sa remplaçante, {replacement}, "
    "assure la permanence pendant son absence."
)
ABSENT_LONG = (
    "L'assistante sociale est absente jusqu'au {date} ; sa remplaçante, {replacement}, "
    "assure la permanence pendant son absence."
)
INFO_SERVICE = "Service minimum d'information : {phone} ({hours})."
URGENT_PATH = "Situation grave et urgente ? Utilisez « Urgence » : une assistante sociale vous rappellera rapidement."

LIMIT_TITLE = "Vous avez déjà le nombre maximum de rendez-vous à venir"
LIMIT_BODY = (
    "Vous pouvez avoir {most} rendez-vous à venir à la fois, et vous en avez {count}. "
    "Pour en prendre un autre, annulez-en un ou déplacez-le dans « Mes rendez-vous »."
)

SUMMARY_TITLE = "Vérifiez votre rendez-vous"
SUMMARY_WHEN = "Quand"
SUMMARY_MOVE_TITLE = "Vérifiez le déplacement de votre rendez-vous"
SUMMARY_WAS = "Actuellement"
SUMMARY_NEW = "Nouvel horaire"
SUMMARY_HOW = "Comment"
SUMMARY_WHERE = "Où"
SUMMARY_TOPIC = "Sujet"
SUMMARY_WITH = "Avec"
SUMMARY_PHONE = "Numéro où l'assistante sociale vous appellera"
SUMMARY_PHONE_HINT = "Vérifiez-le ou corrigez-le avant de confirmer."
SUMMARY_CALLBACK = "Téléphone"
CONFIRM = "Confirmer"
INVITE_LABEL = "Recevoir aussi une invitation dans mon agenda Outlook"
INVITE_HINT = "Votre agenda, vos délégués et votre messagerie montreront alors ce rendez-vous."
OTHER_SLOT = "Choisir un autre créneau"
ABANDON = "Abandonner"

CONFIRMED_TITLE = "✅ C'est réservé"
REQUESTED_TITLE = "📨 Demande envoyée"
REQUESTED_BODY = "L'assistante sociale va confirmer ou vous proposer autre chose ; je vous préviendrai ici."
MOVED_TITLE = "✅ Rendez-vous déplacé"
CONFIRMED_REFERENCE = "Référence : {reference}"
TEAMS_LINK = "Rejoindre la réunion Teams"
TEAMS_LINK_BY_WORKER = "L'assistante sociale vous enverra le lien de la réunion Teams avant le rendez-vous."
TEAMS_LINK_LATER = "Le lien de la réunion Teams vous sera envoyé ici dès que le rendez-vous sera inscrit à l'agenda."
PHONE_CALL = "L'assistante sociale vous appellera au numéro indiqué."
PHONE_CALL_AT = "L'assistante sociale vous appellera au {phone}."
HOW_TO_CANCEL = "Pour annuler ou déplacer : « Mes rendez-vous »."
ABANDONED = "D'accord, rien n'a été réservé."

MINE_TITLE = "Vos prochains rendez-vous"
MINE_EMPTY = "Vous n'avez aucun rendez-vous à venir."
MOVE = "Déplacer"
CANCEL = "Annuler"
CANCEL_CONFIRM_TITLE = "Annuler ce rendez-vous ?"
CANCEL_YES = "Oui, annuler"
CANCEL_NO = "Non, le garder"
CANCELLED = "Votre rendez-vous du {date} est annulé. Le créneau est libéré."
KEPT = "Votre rendez-vous est conservé."
STATUS_REQUESTED = "en attente de confirmation"

URGENT_TITLE = "Urgence"
URGENT_DANGER = "En cas de danger immédiat, appelez sans attendre :"
EMERGENCY_NUMBERS = [
    ("15", "SAMU, urgence médicale"),
    ("17", "Police secours"),
    ("112", "Numéro d'urgence européen"),
    ("3114", "Prévention du suicide, 24 h/24"),
]
URGENT_INTRO = (
    "Pour une situation grave qui demande une réponse rapide, décrivez-la si vous le souhaitez : "
    "une assistante sociale vous rappellera."
)
URGENT_DANGER_CHOICE = "Je suis en danger / j'ai des idées suicidaires maintenant"
URGENT_DANGER_HINT = "Cochez si c'est le cas : votre demande passera en premier."
# What she reads first once she said she is in danger now (before anything else on the card).
URGENT_DANGER_FIRST = "Vous êtes en danger : appelez maintenant, sans attendre notre rappel."
DANGER_NUMBERS = [
    ("3114", "Prévention du suicide, 24 h/24, gratuit"),
    ("15", "SAMU, urgence médicale"),
]
URGENT_DESCRIPTION = "Votre situation (facultatif, confidentiel)"
URGENT_PHONE = "Téléphone pour vous rappeler"
URGENT_AVAILABILITY = "Quand pouvez-vous être joint(e) ? (facultatif)"
URGENT_SEND = "Être rappelé(e)"
URGENT_PHONE_REQUIRED = "Indiquez un numéro de téléphone pour être rappelé(e)."
URGENT_ACK = (
    "Votre demande urgente ({reference}) est transmise à {who}, qui vous rappellera au plus tard le {deadline}."
)
URGENT_ACK_HOTLINE = (
    "Aucune assistante sociale n'est joignable pour le moment. Appelez sans attendre la {name} au {phone} "
    "(référence de votre demande : {reference}). Votre demande reste enregistrée : l'assistante sociale "
    "la verra dès qu'elle sera joignable."
)
PLAN_CHANGED_TITLE = "Changement dans l'équipe du service social"
PLAN_CHANGED = (
    "Le plan de permanence a changé les personnes qui lisent les demandes : {summary}. "
    "Si ce changement vous surprend, prévenez l'administrateur du service."
)
URGENT_ALREADY_IN_HAND = (
    "Votre demande urgente ({reference}) est déjà entre les mains du service social. Ce que vous venez "
    "d'écrire y a été ajouté ; inutile de la renvoyer, les personnes prévenues le sont déjà. "
    "En cas de danger immédiat, appelez les numéros d'urgence ci-dessus."
)
URGENT_TAKEN = "{who} a pris en charge votre demande urgente ({reference}) et va vous rappeler."
# Until someone was reached the agent is told only that the request is recorded (issue 13).
URGENT_RECEIVED = (
    "Votre demande est enregistrée, nous prévenons l'assistante sociale du travail. "
    "Vous serez rappelé(e) au plus tard le {deadline}. Référence : {reference}."
)
URGENT_RECEIVED_REPLACEMENT = (
    "Votre demande est enregistrée. L'assistante sociale du travail est absente : nous prévenons sa remplaçante. "
    "Vous serez rappelé(e) au plus tard le {deadline}. Référence : {reference}."
)
URGENT_REACHED = (
    "Votre demande urgente ({reference}) est transmise à l'assistante sociale du travail, "
    "qui vous rappellera au plus tard le {deadline}."
)
URGENT_REACHED_REPLACEMENT = (
    "L'assistante sociale du travail n'est pas disponible : votre demande urgente ({reference}) est transmise "
    "à sa remplaçante, qui vous rappellera au plus tard le {deadline}."
)
URGENT_NOBODY_REACHED = (
    "Nous n'avons pu joindre aucune assistante sociale pour votre demande urgente ({reference}). "
    "Appelez sans attendre la {name} au {phone}."
)
URGENT_TAKER_TITULAR = "L'assistante sociale du travail"
URGENT_TAKER_REPLACEMENT = "La remplaçante de l'assistante sociale du travail"

# What a Teams toast, the chat list or a locked phone shows of every proactive message: never
# the social worker, the service's purpose, a topic or a person.
PREVIEW = "Vous avez un nouveau message dans Permanence."
REMINDER_DAY = "Rappel : vous avez rendez-vous demain, {date}, avec l'assistante sociale du travail."
REMINDER_HOUR = "Rappel : votre rendez-vous avec l'assistante sociale du travail commence à {time}."
REQUEST_ACCEPTED = "Bonne nouvelle : votre demande de rendez-vous du {date} est acceptée."
REQUEST_DECLINED = (
    "Votre demande de rendez-vous du {date} n'a pas pu être acceptée sous cette forme. "
    "Vous pouvez reprendre rendez-vous en visio Teams, par téléphone ou au siège."
)
WORKER_MOVED = "L'assistante sociale a déplacé votre rendez-vous : il aura lieu le {date}."
WORKER_CANCELLED = "L'assistante sociale a dû annuler votre rendez-vous du {date}. Vous pouvez en reprendre un."
ACCEPT_NEW = "Ça me convient"
CHANGE_ACCEPTED = "C'est noté : votre rendez-vous est maintenu à la nouvelle date."
PICK_ANOTHER = "Choisir un autre créneau"
# An earlier card rewritten in place once its appointment changed (it no longer offers actions).
CARD_CHANGED = {
    "cancelled": "Ce rendez-vous a été annulé.",
    "moved": "Ce rendez-vous a été déplacé.",
    "accepted": "Ce rendez-vous a été confirmé.",
    "declined": "Cette demande de rendez-vous a été refusée.",
}
CARD_CHANGED_WHEN = "Rendez-vous du {date}."
CARD_CHANGED_MOVED_TO = "Nouvel horaire : {date}."
CARD_LIST_OUTDATED = "Cette liste n'est plus à jour : affichez-la de nouveau pour agir."

REFUSALS = {
    "slot_taken": "Ce créneau vient d'être pris. Voici les créneaux les plus proches :",
    "slot_not_offered": "Ce créneau n'est pas (ou plus) proposé. Reprenez depuis « Prendre rendez-vous ».",
    "in_past": "Cette date est passée.",
    "too_late": "Il est trop tard pour modifier ce rendez-vous ici : contactez l'assistante sociale.",
    "beyond_horizon": "Cette date est trop lointaine pour être réservée.",
    "limit_reached": (
        "Vous avez déjà le nombre maximum de rendez-vous à venir. Annulez-en un ou attendez qu'il soit passé."
    ),
    "not_owner": "Ce rendez-vous est introuvable.",
    "not_active": "Ce rendez-vous n'est plus actif.",
    "topic_not_allowed": "Ce créneau est réservé à un autre type de demande (par exemple les dossiers de retraite).",
    "mode_not_allowed": "Le rendez-vous en présentiel a lieu au siège : choisissez la visio Teams ou le téléphone.",
    "unknown": "Je n'ai pas compris cette demande.",
}
STALE_CARD = "Cette carte n'est plus valable. Reprenez depuis le début, par exemple avec « rendez-vous »."
ALREADY_DONE = "C'est déjà fait : cette action a été traitée."
DONE_BOOKED = "C'est déjà fait : votre rendez-vous du {date} est réservé."
DONE_REQUESTED = "C'est déjà fait : votre demande de rendez-vous du {date} est transmise."
DONE_MOVED = "C'est déjà fait : votre rendez-vous est déplacé au {date}."
DONE_CANCELLED = "C'est déjà fait : votre rendez-vous du {date} est annulé."
DONE_URGENT = "C'est déjà fait : votre demande urgente {reference} est enregistrée."
DONE_PREFIX = "C'est déjà fait : "
NOT_ALLOWED = "Vous n'avez pas accès à cette action."
PERSONAL_CHAT_ONLY = (
    "Permanence ne répond qu'en conversation privée : ouvrez l'application Permanence dans Teams "
    "pour écrire à l'assistante sociale en toute confidentialité."
)
NOT_UNDERSTOOD = "Je n'ai pas compris. " + HELP_COMMANDS
BAD_INPUT = "Certaines informations ne sont pas valides : {what}."
ERROR = "Désolée, un problème technique m'empêche de répondre. Réessayez dans un instant."
# Every database connection of this replica stayed taken for the pool's timeout (a rush).
BUSY = "Un instant : le service est très sollicité, réessayez dans quelques secondes."
TAMPERED = (
    "Désolée, je ne peux pas ouvrir votre dossier pour le moment. L'équipe qui gère le service en est "
    "avertie ; réessayez un peu plus tard."
)
WRONG_TENANT = "Ce service est réservé aux agents du Cned."

AGENDA_TITLE = "Agenda · {period}"
AGENDA_EMPTY = "Aucun rendez-vous sur cette période."
AGENDA_WEEK = "semaine du {monday} au {sunday}"
AGENDA_PREVIOUS_WEEK = "◀ Semaine précédente"
AGENDA_NEXT_WEEK = "Semaine suivante ▶"
REQUESTS_TITLE = "Demandes à confirmer"
REQUESTS_EMPTY = "Aucune demande en attente."
ACCEPT = "Accepter"
DECLINE = "Refuser"
DECIDED_ACCEPTED = "Demande acceptée ; l'agent est prévenu."
DECIDED_DECLINED = "Demande refusée ; l'agent est prévenu."
URGENT_LIST_TITLE = "Urgences en attente de rappel"
URGENT_LIST_DANGER = "⚠️ Danger immédiat déclaré"
URGENT_LIST_EMPTY = "Aucune urgence en attente."
TAKE_IT = "Je m'en occupe"
TAKEN = "C'est noté : l'agent est prévenu que vous le rappelez."
URGENT_WAITING_FOR_WORKER = (
    "Une demande urgente ({reference}), reçue le {received}, attend un rappel : personne n'a pu être prévenu "
    "à ce moment-là, et l'agent a reçu le numéro de la permanence téléphonique."
)
URGENT_NEW_FOR_WORKER = "Nouvelle demande urgente ({reference}) : rappel attendu avant le {deadline}."
REQUEST_NEW_FOR_WORKER = "Nouvelle demande de rendez-vous à confirmer ({reference})."
ABSENCE_TITLE = "Déclarer une absence"
ABSENCE_FROM = "Premier jour d'absence"
ABSENCE_FROM_MISSING = "Indiquez le premier jour d'absence."
ABSENCE_TO = "Dernier jour d'absence"
ABSENCE_TO_MISSING = "Indiquez le dernier jour d'absence."
ABSENCE_REPLACEMENT = "Remplaçante"
ABSENCE_SAVE = "Enregistrer l'absence"
ABSENCE_SAVED = "Absence enregistrée du {start} au {end}."
BLOCK_TITLE = "Bloquer un créneau"
BLOCK_DAY = "Jour"
DATE_MISSING = "Indiquez une date."
TIME_MISSING = "Indiquez une heure."
BLOCK_FROM = "De"
BLOCK_TO = "À"
BLOCK_SAVE = "Bloquer"
BLOCK_SAVED = "Créneau bloqué le {date} de {start} à {end}."
DAY_TITLE = "Ajouter une journée de permanence"
DAY_KIND_LABEL = "Type de journée"
DAY_SAVE = "Ajouter"
DAY_SAVED = "Journée ajoutée le {date}."
WORKER_ONLY_LOCAL = "Avec Outlook, bloquez le créneau ou ajoutez la journée directement dans votre calendrier."

# -- « mes données »: what the service keeps about her, and its erasure (GDPR art. 15 and 17)
DATA_TITLE = "Vos données dans Permanence"
DATA_INTRO = "Voici tout ce que le service conserve à votre sujet, et jusqu'à quand."
DATA_PROFILE = "Vous"
DATA_NAME = "Nom (transmis par Teams)"
DATA_EMAIL = "Adresse de messagerie (transmise par Teams)"
DATA_PHONE = "Téléphone"
DATA_SITE = "Site"
DATA_CONVERSATION = "Conversation"
DATA_CONVERSATION_KEPT = "référence de cette conversation, pour vous écrire (rappels, réponses)"
DATA_PROFILE_UNTIL = "Conservé jusqu'au"
DATA_APPOINTMENTS = "Vos rendez-vous et demandes de rendez-vous"
DATA_URGENT = "Vos demandes urgentes"
DATA_NONE = "Aucune."
DATA_TOPIC = "Sujet"
DATA_MESSAGE = "Votre message"
DATA_SITUATION = "Votre situation"
DATA_DANGER = "Danger immédiat"
DATA_DANGER_YES = "vous avez indiqué être en danger"
DATA_AVAILABILITY = "Vos disponibilités"
DATA_STATUS = "État"
DATA_UNTIL = "Conservé jusqu'au"
DATA_STATUS_LABELS = {
    "requested": "en attente de confirmation",
    "confirmed": "confirmé",
    "cancelled": "annulé",
    "declined": "non accepté",
    "open": "en attente de rappel",
    "acknowledged": "prise en charge",
    "closed": "close",
}
# An open request nobody could be told of: she was given the hotline, the worker will see it.
DATA_STATUS_HOTLINE = (
    "en attente : aucune assistante sociale n'était joignable, appelez la {name} au {phone} ; "
    "l'assistante sociale la verra dès qu'elle sera joignable"
)
DATA_AUDIT = (
    "Le journal d'audit garde la trace de chaque consultation et modification de vos rendez-vous "
    "(quand, par qui, quelle action ; jamais votre nom ni ce que vous avez écrit) pendant {duration} : "
    "il est exigé pour contrôler les accès et n'est pas effacé."
)


def data_audit(days: int) -> str:
    return DATA_AUDIT.format(duration=duration(days))


DATA_COUNTS = "Les statistiques annuelles ne contiennent que des effectifs anonymes : elles restent inchangées."
ERASE_ACTION = "Demander l'effacement"
ERASE_TITLE = "Effacer vos données ?"
ERASE_WILL = "Seront effacés :"
ERASE_KEPT = "Seront conservés :"


def erase_past(count: int) -> str:
    said = plural(count, "rendez-vous passé, annulé ou non accepté", "rendez-vous passés, annulés ou non acceptés")
    return (
        f"{count} {said} : votre message, les notes et le lien avec vous "
        "(une ligne anonyme reste pour les statistiques)"
    )


def erase_requests(count: int) -> str:
    said = plural(count, "demande urgente déjà prise", "demandes urgentes déjà prises")
    return f"{count} {said} en charge : votre situation, votre téléphone et le lien avec vous"


ERASE_PROFILE = "votre nom, votre adresse, votre téléphone, votre site et la référence de cette conversation"


def erase_kept_upcoming(count: int) -> str:
    them = plural(count, "annulez-le", "annulez-les")
    return f"{count} rendez-vous à venir : {them} d'abord dans « Mes rendez-vous » si vous souhaitez tout effacer"


def erase_kept_open(count: int) -> str:
    said = plural(count, "demande urgente", "demandes urgentes")
    return f"{count} {said} en cours : une assistante sociale doit pouvoir vous rappeler"


ERASE_KEPT_PROFILE = (
    "votre nom, votre téléphone et cette conversation, tant qu'un rendez-vous ou une demande en cours en a besoin"
)
ERASE_KEPT_AUDIT = "le journal d'audit, exigé pour contrôler les accès (sans votre nom ni ce que vous avez écrit)"
ERASE_NOTHING = "Rien ne peut être effacé pour l'instant : voici ce qui est conservé et pourquoi."
ERASE_AFTER = "Si vous m'écrivez de nouveau, Teams me transmettra votre nom pour que je puisse vous répondre."
ERASE_YES = "Oui, effacer"
ERASE_NO = "Non, ne rien effacer"
ERASED = "C'est fait : vos données ont été effacées, sauf ce qui doit être conservé."
ERASED_ALL = "C'est fait : vos données ont été effacées."
ERASE_KEPT_NOTHING = "Rien n'a été effacé."
DONE_ERASED = "C'est déjà fait : votre demande d'effacement a été traitée."
