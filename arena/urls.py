from django.urls import path

from arena import views

urlpatterns = [
    path("projects/<int:project_id>/arena/", views.battle_page, name="arena"),
    path("projects/<int:project_id>/arena/battles/", views.battle_start, name="arena-battle-start"),
    path("projects/<int:project_id>/arena/leaderboard/", views.leaderboard_page,
         name="arena-leaderboard"),
    path("projects/<int:project_id>/arena/recent/", views.battles_page, name="arena-battles"),
    path("projects/<int:project_id>/arena/settings/", views.settings_page, name="arena-settings"),
    path("arena/battles/<int:battle_id>/turns/", views.battle_turn, name="arena-battle-turn"),
    path("arena/battles/<int:battle_id>/stop/", views.battle_stop, name="arena-battle-stop"),
    path("arena/battles/<int:battle_id>/vote/", views.battle_vote, name="arena-battle-vote"),
]
